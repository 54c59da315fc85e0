import type { ArtifactRef, Edge, Relation } from '../../workspace/types';
import type { Workspace } from '../../workspace/workspace';
import type { RouteModule } from '../context';
import { modelStage, type ModelStage } from '../stage';

/** docs/ui-api.md `Node`: `stage` for models, `state` for images and services. */
export interface LineageNode {
  id: string;
  kind: ArtifactRef['kind'];
  ref: ArtifactRef;
  label: string;
  stage?: ModelStage;
  state?: string;
}

export interface Lineage {
  nodes: LineageNode[];
  edges: Array<{ from: string; to: string; relation: Relation }>;
}

const nodeId = (ref: ArtifactRef) => `${ref.kind}:${ref.id}`;

/** Every artifact of the workspace and the edges between them, users before what they use. */
export async function workspaceLineage(ws: Workspace): Promise<Lineage> {
  const nodes: LineageNode[] = [];
  const edges: Edge[] = [];
  const add = async (ref: ArtifactRef, extra: (from: Edge[]) => Pick<LineageNode, 'stage' | 'state'> = () => ({})) => {
    const from = await ws.store.edgesFrom(ref);
    edges.push(...from);
    nodes.push({ id: nodeId(ref), kind: ref.kind, ref, label: ref.id, ...extra(from) });
  };
  for (const s of await ws.listServices()) await add({ kind: 'service', id: s.name }, () => ({ state: s.state }));
  for (const c of await ws.listComputes()) await add({ kind: 'compute', id: c.name });
  for (const i of await ws.listImages()) await add({ kind: 'image', id: i.id }, () => ({ state: i.state }));
  for (const m of await ws.listModels()) await add({ kind: 'model', id: m.id }, (from) => ({ stage: modelStage(m, from) }));
  // A derived model keeps its `derived_from` edge after its source is deleted: no node to draw it to.
  const present = new Set(nodes.map((n) => n.id));
  return {
    nodes,
    edges: edges.filter((e) => present.has(nodeId(e.to))).map((e) => ({ from: nodeId(e.from), to: nodeId(e.to), relation: e.relation })),
  };
}

export const lineageRoutes: RouteModule = (app, { ws }) => {
  app.get('/api/lineage', async () => workspaceLineage(ws));
};
