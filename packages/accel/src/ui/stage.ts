import type { Edge, ModelRecord } from '../workspace/types';

/** `items` grouped by `key`, in their order. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Where a model version stands on the way to serving (docs/ui-api.md, `ModelView.stage`). */
export type ModelStage = 'source' | 'converted' | 'quantized' | 'onnx';

/**
 * The stage of a model version, from what the convert and quantize jobs leave behind: a folder
 * registered with a `derived_from` edge to its source model. Tags are not used for that, since
 * anyone can change them; properties are fixed at registration. The edge stays when the source
 * is deleted (only edges leaving a deleted artifact go), so a derived model keeps its stage.
 *
 * @param edgesFrom the edges leaving this version (`store.edgesFrom`)
 */
export function modelStage(m: ModelRecord, edgesFrom: readonly Edge[]): ModelStage {
  const derived = m.format === 'folder' && edgesFrom.some((e) => e.relation === 'derived_from' && e.to.kind === 'model');
  // quantize/job.ts records its calibration method and the agreement with the float model.
  if (derived) return 'top1Agreement' in m.properties && 'method' in m.properties ? 'quantized' : 'converted';
  if (m.format === 'file' && m.fileName.toLowerCase().endsWith('.onnx')) return 'onnx';
  // A folder holding model.onnx registered by hand (a downloaded conversion) says so only in its tag.
  return m.tags.format === 'onnx' ? 'onnx' : 'source';
}
