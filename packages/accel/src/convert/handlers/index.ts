import { activationHandlers } from './activations';
import { convHandlers } from './conv';
import { detectionHandlers } from './detection';
import { elementwiseHandlers } from './elementwise';
import { matmulHandlers } from './matmul';
import { normalizationHandlers } from './normalization';
import { reduceHandlers } from './reduce';
import type { Handler, HandlerTable } from './registry';
import { resizeHandlers } from './resize';
import { shapeHandlers } from './shape';

const FAMILIES: HandlerTable[] = [
  convHandlers,
  matmulHandlers,
  elementwiseHandlers,
  activationHandlers,
  normalizationHandlers,
  shapeHandlers,
  reduceHandlers,
  resizeHandlers,
  detectionHandlers,
];

/** Every op handler, by TensorFlow op type. */
export const HANDLERS: ReadonlyMap<string, Handler> = new Map(FAMILIES.flatMap((t) => Object.entries(t)));

/** Ops the mapper itself takes care of (constants, graph inputs, no-ops). */
export const STRUCTURAL_OPS = new Set(['Const', 'Placeholder', 'PlaceholderWithDefault', 'NoOp']);

export function isSupported(op: string): boolean {
  return STRUCTURAL_OPS.has(op) || HANDLERS.has(op);
}
