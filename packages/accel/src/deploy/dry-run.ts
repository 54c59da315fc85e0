import { join } from 'node:path';
import { parseModelRef } from '../workspace/names';
import type { Workspace } from '../workspace/workspace';
import { newKey, type DeployOptions } from './deploy';
import type { DeploySpec } from './target';

/**
 * What `accel deploy --dry-run` prints: for a Kubernetes target the manifests that would be
 * applied (Secret, Deployment, Service, HorizontalPodAutoscaler), for the others the plan. Changes
 * nothing (keys in the output are placeholders).
 */
export async function dryRun(ws: Workspace, opts: DeployOptions): Promise<{ text: string; objects?: object[] }> {
  const { name, version } = parseModelRef(opts.image);
  const image = await ws.getImage(name, version);
  const compute = await ws.getCompute(opts.compute);
  const spec: DeploySpec = {
    service: opts.name,
    image: image.id,
    layoutDir: ws.imageDir(image),
    layoutRef: String(image.version),
    models: image.models.map((id) => {
      const m = parseModelRef(id);
      return { name: m.name, version: m.version!, dir: `/models/${m.name}/${m.version}` };
    }),
    replicas: opts.replicas ?? 1,
    autoscale: opts.autoscale,
    keys: opts.auth ? { primary: `<generated: ${newKey().length} chars>`, secondary: '<generated>' } : undefined,
    tls: opts.tlsCert ? { cert: `<${opts.tlsCert}>`, key: `<${opts.tlsKey}>` } : undefined,
    accelerators: 1,
    workDir: join(ws.dir, 'services', opts.name),
    properties: compute.properties,
  };
  if (compute.type === 'kubernetes') {
    const { imageServeArgs, kubernetesManifests, toYaml } = await import('./k8s-manifests');
    const serveArgs = await imageServeArgs(ws.imageDir(image), String(image.version)).catch(() => undefined);
    const objects = kubernetesManifests({ ...spec, serveArgs, imageRef: imageReference(compute.properties, image.name, image.version), namespace: compute.properties.namespace ?? 'default', acceleratorResource: compute.properties.acceleratorResource });
    return { text: toYaml(objects), objects };
  }
  const lines = [
    `service ${spec.service} on ${compute.name} (${compute.type}), 1 of ${compute.accelerators} ${compute.acceleratorType} accelerator(s)`,
    `image ${image.id} (${image.digest || image.state}) from ${spec.layoutDir}`,
    `models: ${image.models.join(', ')}`,
    compute.type === 'container' ? `runc container accel-${spec.service} in network namespace accel-${spec.service}` : 'a supervised server process on 127.0.0.1',
    `auth: ${opts.auth ? 'primary and secondary keys' : 'off'}; TLS: ${opts.tlsCert ? opts.tlsCert : 'off'}`,
    ...(opts.replace ? [`replaces service ${opts.replace} (stopped first)`] : []),
  ];
  return { text: lines.join('\n') };
}

/** Where a Kubernetes cluster pulls an image from: the compute's `registry` property + name:version. */
export function imageReference(properties: Record<string, string>, name: string, version: number): string {
  const registry = properties.registry ?? 'registry.local/accel';
  return `${registry.replace(/\/$/, '')}/${name}:${version}`;
}
