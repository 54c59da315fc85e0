import type { ArtifactRef, Relation } from '../../workspace/types';
import type { Workspace } from '../../workspace/workspace';
import type { RouteModule } from '../context';
import { groupBy, modelStage, type ModelStage } from '../stage';

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
  const [services, computes, images, models, edges] = await Promise.all([ws.listServices(), ws.listComputes(), ws.listImages(), ws.listModels(), ws.store.listEdges()]);
  const from = groupBy(edges, (e) => nodeId(e.from));
  const add = (ref: ArtifactRef, extra: Pick<LineageNode, 'stage' | 'state'> = {}) => nodes.push({ id: nodeId(ref), kind: ref.kind, ref, label: ref.id, ...extra });
  for (const s of services) add({ kind: 'service', id: s.name }, { state: s.state });
  for (const c of computes) add({ kind: 'compute', id: c.name });
  for (const i of images) add({ kind: 'image', id: i.id }, { state: i.state });
  for (const m of models) add({ kind: 'model', id: m.id }, { stage: modelStage(m, from.get(nodeId({ kind: 'model', id: m.id })) ?? []) });
  // A derived model keeps its `derived_from` edge after its source is deleted: no node to draw it to.
  const present = new Set(nodes.map((n) => n.id));
  return {
    nodes,
    edges: nodes.flatMap((n) => from.get(n.id) ?? []).filter((e) => present.has(nodeId(e.to))).map((e) => ({ from: nodeId(e.from), to: nodeId(e.to), relation: e.relation })),
  };
}

export const lineageRoutes: RouteModule = (app, { ws }) => {
  app.get('/api/lineage', async () => workspaceLineage(ws));
};
