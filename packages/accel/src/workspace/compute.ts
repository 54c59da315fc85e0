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

/** Container target (the edge box): runc, umoci and iproute2 run the image's server in its own namespaces; needs root. */
const container: Provisioner = async (c) => {
  const errors: string[] = [];
  const paths = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  for (const tool of ['runc', 'umoci', 'ip']) {
    if (!paths.some((dir) => existsSync(join(dir, tool)))) errors.push(`"${tool}" is not installed (Debian: apt-get install ${tool === 'ip' ? 'iproute2' : tool})`);
  }
  if (process.getuid?.() !== 0) errors.push('container targets need root (network namespaces, runc)');
  const cpu = await local(c);
  errors.push(...cpu.errors);
  return { state: errors.length ? 'Failed' : 'Succeeded', errors };
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
  return { local, container, kubernetes };
}
