/** Registry references `HOST[:PORT]/REPOSITORY[:TAG]` (distribution spec name and tag grammar). */
import { AccelError } from '../errors';

export interface ImageReference {
  /** `host` or `host:port`. */
  registry: string;
  /** Repository path (`team/resnet`). */
  repository: string;
  tag: string;
}

const COMPONENT = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HOST = /^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;

/**
 * Parses `HOST[:PORT]/REPO[:TAG]`; the tag defaults to `latest`.
 *
 * @example
 * parseReference('127.0.0.1:5000/team/resnet:1'); // { registry: '127.0.0.1:5000', repository: 'team/resnet', tag: '1' }
 */
export function parseReference(ref: string): ImageReference {
  const bad = (why: string) =>
    new AccelError('ACCEL_ERR_USAGE', { reason: `"${ref}" is not a registry reference: ${why}. Use HOST[:PORT]/REPOSITORY[:TAG], for example 127.0.0.1:5000/accel/resnet:1` });
  if (ref.includes('@')) throw bad('digests are not accepted, name a tag');
  const slash = ref.indexOf('/');
  if (slash <= 0) throw bad('no registry host');
  const registry = ref.slice(0, slash);
  if (!HOST.test(registry)) throw bad(`"${registry}" is not a host or host:port`);
  const port = /:(\d+)$/.exec(registry)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw bad(`port ${port} is out of range`);
  let rest = ref.slice(slash + 1);
  let tag = 'latest';
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag (letters, digits, "_", "." and "-", at most 128)`);
  }
  if (!rest) throw bad('no repository');
  const badComponent = rest.split('/').find((c) => !COMPONENT.test(c));
  if (badComponent !== undefined) throw bad(`repository component "${badComponent}" must be lowercase letters and digits separated by ".", "_", "__" or "-"`);
  if (rest.length + registry.length + 1 > 255) throw bad('the name is longer than 255 characters');
  return { registry, repository: rest, tag };
}

export const formatReference = (r: ImageReference): string => `${r.registry}/${r.repository}:${r.tag}`;
