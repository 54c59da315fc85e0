import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from './container-exec';

/** Where the service's run folder (keys.json, tls.crt, tls.key) appears inside the container, read-only. */
export const RUN_MOUNT = '/run/accel';

/** The parts of an OCI runtime config (runtime-spec `config.json`) the container target touches. */
export interface OciConfig {
  process?: {
    terminal?: boolean;
    args?: string[];
    user?: { uid: number; gid: number };
    rlimits?: { type: string; hard: number; soft: number }[];
    [key: string]: unknown;
  };
  hostname?: string;
  root?: { path: string; readonly?: boolean };
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux?: {
    namespaces?: { type: string; path?: string }[];
    resources?: { memory?: { limit?: number }; [key: string]: unknown };
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface BundleSettings {
  hostname: string;
  /** Path of the named network namespace the container joins (`/var/run/netns/accel-<service>`). */
  netnsPath: string;
  /** Host folder bind-mounted read-only at {@link RUN_MOUNT}. */
  runDir: string;
  /** Appended to the image's entrypoint + cmd (`--api-keys-file ...`, `--tls-cert ...`). */
  extraArgs: readonly string[];
  /** Memory limit in bytes. */
  memoryLimit?: number;
  /** RLIMIT_NOFILE for the server (at most the caller's own hard limit: runc cannot raise it). */
  openFiles?: number;
}

/**
 * The runtime config umoci generated from the image, adjusted to run the server detached:
 * no terminal, the image's command plus `extraArgs`, the run folder mounted read-only, its own
 * pid/ipc/uts/mount namespaces and the prepared network namespace, the service's hostname.
 */
export function rewriteConfig(config: OciConfig, s: BundleSettings): OciConfig {
  const args = config.process?.args ?? [];
  if (!args.length) throw new Error('the image has no entrypoint or cmd: nothing to run');
  const mounts = (config.mounts ?? []).filter((m) => m.destination !== RUN_MOUNT);
  mounts.push({ destination: RUN_MOUNT, type: 'bind', source: s.runDir, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  let rlimits = config.process?.rlimits;
  if (s.openFiles) rlimits = [...(rlimits ?? []).filter((r) => r.type !== 'RLIMIT_NOFILE'), { type: 'RLIMIT_NOFILE', hard: s.openFiles, soft: s.openFiles }];
  const resources = { ...config.linux?.resources };
  if (s.memoryLimit !== undefined) resources.memory = { ...resources.memory, limit: s.memoryLimit };
  return {
    ...config,
    process: { ...config.process, terminal: false, args: [...args, ...s.extraArgs], rlimits },
    hostname: s.hostname,
    mounts,
    linux: {
      ...config.linux,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: s.netnsPath }],
      resources,
    },
  };
}

/** The open-files limit for a server: 65536, or less when this process's hard limit is lower. */
export function openFilesLimit(limitsText: string): number {
  const hard = /^Max open files\s+\S+\s+(\d+|unlimited)/m.exec(limitsText)?.[1];
  return !hard || hard === 'unlimited' ? 65536 : Math.min(65536, Number(hard));
}

/** A memory size: bytes, or with a suffix k/m/g (powers of 1024; `Ki`, `Mi`, `Gi`, `KB`... also read). */
export function parseMemory(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(text);
  if (!m) throw new Error(`memory limit "${text}" is not a size (bytes, or a number with k, m, g: 512m, 2g)`);
  const exp = ' kmgt'.indexOf(m[2].toLowerCase() || ' ');
  const bytes = Math.floor(Number(m[1]) * 1024 ** exp);
  if (bytes < 16 << 20) throw new Error(`memory limit "${text}" is below 16 MiB: the server cannot start in that`);
  return bytes;
}

/**
 * Makes a runtime bundle for one container of `layoutDir:ref`. The image is unpacked once, into
 * `<layoutDir>/unpacked/<ref>` (removed with the image), and every container of it runs on that
 * root filesystem read-only, with its own `config.json` in `bundleDir` and a tmpfs on /tmp: a
 * second deployment of an image skips the unpacking.
 */
export async function prepareBundle(layoutDir: string, ref: string, bundleDir: string): Promise<{ unpacked: boolean }> {
  const cache = join(layoutDir, 'unpacked', ref);
  let unpacked = false;
  if (!existsSync(join(cache, 'config.json'))) {
    const tmp = `${cache}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(join(layoutDir, 'unpacked'), { recursive: true });
    await runTool('umoci', ['unpack', '--image', `${layoutDir}:${ref}`, tmp], { timeoutMs: 600_000 });
    await rename(tmp, cache).catch(async (err) => {
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(join(cache, 'config.json'))) throw err;
    });
    unpacked = true;
  }
  await rm(bundleDir, { recursive: true, force: true });
  await mkdir(bundleDir, { recursive: true });
  const config = await readConfig(cache);
  const mounts = (config.mounts ?? []).filter((m) => m.destination !== '/tmp');
  mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=256m'] });
  await writeConfig(bundleDir, { ...config, root: { path: join(cache, 'rootfs'), readonly: true }, mounts });
  return { unpacked };
}

export async function readConfig(bundleDir: string): Promise<OciConfig> {
  return JSON.parse(await readFile(join(bundleDir, 'config.json'), 'utf8')) as OciConfig;
}

export async function writeConfig(bundleDir: string, config: OciConfig): Promise<void> {
  await writeFile(join(bundleDir, 'config.json'), JSON.stringify(config, null, 2));
}
