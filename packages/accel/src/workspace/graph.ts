import { AccelError } from '../errors';
import type { ArtifactKind, ArtifactRef, MetadataStore } from './types';
import { refString } from './types';

/** The seed's clean-up order: when two artifacts could go in either order, this decides. */
const KIND_ORDER: Record<ArtifactKind, number> = { service: 0, compute: 1, image: 2, model: 3 };

const key = (r: ArtifactRef) => `${r.kind}\u0000${r.id}`;

/**
 * What deleting `targets` takes with it: every artifact that uses them, directly or not, in an
 * order where each goes before what it uses (`derived_from` edges never block). The targets
 * come last among what they block.
 */
export async function deletionPlan(store: MetadataStore, targets: readonly ArtifactRef[]): Promise<ArtifactRef[]> {
  const nodes = new Map<string, ArtifactRef>();
  const users = new Map<string, ArtifactRef[]>();
  const queue = [...targets];
  while (queue.length) {
    const ref = queue.pop()!;
    if (nodes.has(key(ref))) continue;
    nodes.set(key(ref), ref);
    const using = (await store.edgesTo(ref)).filter((e) => e.relation === 'uses').map((e) => e.from);
    users.set(key(ref), using);
    queue.push(...using);
  }
  // Depth-first post-order over "is used by": users are emitted before what they use.
  const order: ArtifactRef[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (ref: ArtifactRef) => {
    const k = key(ref);
    if (state.get(k) === 'done') return;
    if (state.get(k) === 'visiting') throw new AccelError('ACCEL_ERR_INTERNAL', { reason: `dependency cycle at ${refString(ref)}` });
    state.set(k, 'visiting');
    const sorted = [...(users.get(k) ?? [])].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.id.localeCompare(b.id));
    sorted.forEach(visit);
    state.set(k, 'done');
    order.push(ref);
  };
  [...targets].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || b.id.localeCompare(a.id)).forEach(visit);
  return order;
}

/** Refuses a delete that would leave users behind, naming them and the order that works. */
export function refuseIfUsed(targets: readonly ArtifactRef[], plan: readonly ArtifactRef[], what: string): void {
  const inTargets = new Set(targets.map(key));
  const dependents = plan.filter((r) => !inTargets.has(key(r)));
  if (dependents.length === 0) return;
  throw new AccelError('ACCEL_ERR_IN_USE', {
    what,
    dependents: dependents.map(refString).join(', '),
    order: plan.map(refString).join(', then '),
  });
}
