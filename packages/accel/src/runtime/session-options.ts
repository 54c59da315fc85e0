import os from 'node:os';
import type { InferenceSession } from 'onnxruntime-node';
import { listSupportedBackends } from 'onnxruntime-node';
import { AccelError } from '../errors';

export type ExecutionProvider = 'auto' | 'cpu' | 'cuda' | 'tensorrt' | 'webgpu';

export interface SessionSettings {
  /** Intra-op threads per session; defaults to the machine's cores. */
  threads?: number;
  executionProvider?: ExecutionProvider;
}

/**
 * Session options for serving: full graph optimization on the serving machine (the saved
 * artifact stays portable), one intra-op pool sized to the cores, and the execution provider
 * asked for with CPU as the fallback. `auto` takes CUDA/TensorRT only when the binding lists
 * them as present; they are never required.
 */
export function sessionOptions(settings: SessionSettings): InferenceSession.SessionOptions {
  const threads = settings.threads ?? os.availableParallelism();
  return {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionProviders: [...providers(settings.executionProvider ?? 'auto'), 'cpu'],
  };
}

function providers(ep: ExecutionProvider): string[] {
  const available = listSupportedBackends();
  if (ep === 'cpu') return [];
  if (ep === 'auto') {
    // A backend that is listed but not bundled needs its own libraries, which auto never assumes.
    return available.filter((b) => (b.name === 'cuda' || b.name === 'tensorrt') && b.bundled).map((b) => b.name);
  }
  if (!available.some((b) => b.name === ep)) {
    throw new AccelError('ACCEL_ERR_USAGE', {
      reason: `Execution provider "${ep}" is not available in this onnxruntime-node build (available: ${available.map((b) => b.name).join(', ')})`,
    });
  }
  return [ep];
}
