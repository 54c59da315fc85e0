import type { OnnxGraph } from '../../onnx/graph';

/** One graph rewrite. `run` returns how many changes it made (0: nothing to do). */
export interface Pass {
  name: string;
  run(graph: OnnxGraph): number;
}
