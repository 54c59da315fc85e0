import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ComputeRecord, ComputeType, ProvisioningState } from './types';

/** Turns a requested compute target into a state and errors. One per type, passed in explicitly. */
export type Provisioner = (c: Pick<ComputeRecord, 'name' | 'type' | 'acceleratorType' | 'accelerators' | 'properties'>) => Promise<{
  state: ProvisioningState;
  errors: string[];
  properties?: Record<string, string>;
}>;

export const ACCELERATOR_TYPES = ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const;

/** Local target: CPU slots always exist; GPU types need their execution provider in this onnxruntime build. */
const local: Provisioner = async (c) => {
  if (c.acceleratorType === 'cpu') return { state: 'Succeeded', errors: [] };
  const { listSupportedBackends } = await import('onnxruntime-node');
  const backend = listSupportedBackends().find((b) => b.name === c.acceleratorType);
  if (!backend) return { state: 'Failed', errors: [`onnxruntime-node on this machine has no "${c.acceleratorType}" execution provider`] };
  if (c.acceleratorType === 'cuda' || c.acceleratorType === 'tensorrt') {
    const gpu = existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/version');
    if (!gpu) return { state: 'Failed', errors: [`no NVIDIA GPU found on this machine (no /dev/nvidia0): "${c.acceleratorType}" is not available here`] };
  }
  return { state: 'Succeeded', errors: [] };
};

/** Kubernetes target: needs a kubeconfig with a current context (the API server is reached at deploy time). */
const kubernetes: Provisioner = async (c) => {
  const path = c.properties.kubeconfig || process.env.KUBECONFIG?.split(':')[0] || join(homedir(), '.kube', 'config');
  if (!existsSync(path)) return { state: 'Failed', errors: [`no kubeconfig at ${path}: set KUBECONFIG or pass --property kubeconfig=FILE`] };
  const context = /^current-context:\s*"?([^"\n]+)"?\s*$/m.exec(readFileSync(path, 'utf8'))?.[1];
  if (!context) return { state: 'Failed', errors: [`kubeconfig ${path} has no current-context`] };
  return { state: 'Succeeded', errors: [], properties: { kubeconfig: path, context } };
};

export function defaultProvisioners(): Record<ComputeType, Provisioner> {
  return { local, kubernetes };
}
