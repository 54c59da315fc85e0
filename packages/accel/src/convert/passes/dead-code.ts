import type { Node } from '../../onnx/graph';
import type { Pass } from './pass';

/**
 * Removes nodes none of whose outputs reach a graph output, then initializers no remaining
 * node reads (graph inputs stay: they are the model's interface). Returns how many nodes and
 * initializers it removed.
 */
export const deadCodePass: Pass = {
  name: 'dead-code',
  run(graph) {
    const { producer } = graph.index();
    const live = new Set<Node>();
    const stack = graph.outputs.map((o) => producer.get(o.name)).filter((n): n is Node => !!n);
    while (stack.length) {
      const n = stack.pop()!;
      if (live.has(n)) continue;
      live.add(n);
      for (const i of n.inputs) {
        const p = producer.get(i);
        if (p && !live.has(p)) stack.push(p);
      }
    }
    const before = graph.nodes.length;
    graph.nodes = graph.nodes.filter((n) => live.has(n));
    const read = new Set([...graph.nodes.flatMap((n) => n.inputs), ...graph.outputs.map((o) => o.name)]);
    let removed = before - graph.nodes.length;
    for (const name of [...graph.initializers.keys()]) {
      if (read.has(name)) continue;
      graph.initializers.delete(name);
      graph.types.delete(name);
      removed++;
    }
    return removed;
  },
};
