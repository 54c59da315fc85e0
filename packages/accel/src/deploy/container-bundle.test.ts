import { describe, expect, it } from 'vitest';
import { openFilesLimit, parseMemory, rewriteConfig, type OciConfig } from './container-bundle';

const umociConfig = (): OciConfig => ({
  ociVersion: '1.0.2-dev',
  process: { terminal: true, user: { uid: 0, gid: 0 }, args: ['/usr/local/bin/node', '/app/accel.js', 'serve'], rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }] },
  hostname: 'umoci-default',
  mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
  linux: { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }], maskedPaths: ['/proc/kcore'] },
});

const settings = { hostname: 'edge', netnsPath: '/var/run/netns/accel-edge', runDir: '/ws/services/edge/run', extraArgs: ['--api-keys-file', '/run/accel/keys.json'] };

describe('rewriteConfig', () => {
  it('runs the image command detached, with the flags appended, in the prepared namespaces', () => {
    const c = rewriteConfig(umociConfig(), settings);
    expect(c.process?.terminal).toBe(false);
    expect(c.process?.args).toEqual(['/usr/local/bin/node', '/app/accel.js', 'serve', '--api-keys-file', '/run/accel/keys.json']);
    expect(c.process?.user).toEqual({ uid: 0, gid: 0 });
    expect(c.hostname).toBe('edge');
    expect(c.linux?.namespaces).toEqual([{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/var/run/netns/accel-edge' }]);
    expect(c.linux?.maskedPaths).toEqual(['/proc/kcore']);
    expect(c.linux?.resources?.memory).toBeUndefined();
    expect(c.process?.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
    expect(rewriteConfig(umociConfig(), { ...settings, openFiles: 20000 }).process?.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
  });

  it('mounts the run folder read-only at /run/accel, once', () => {
    const once = rewriteConfig(umociConfig(), settings);
    const twice = rewriteConfig(once, settings);
    expect(twice.mounts).toEqual([
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/run/accel', type: 'bind', source: '/ws/services/edge/run', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] },
    ]);
  });

  it('sets a memory limit when given', () => {
    expect(rewriteConfig(umociConfig(), { ...settings, memoryLimit: 512 << 20 }).linux?.resources?.memory).toEqual({ limit: 512 << 20 });
  });

  it('refuses an image without a command', () => {
    const c = umociConfig();
    c.process!.args = [];
    expect(() => rewriteConfig(c, settings)).toThrow('the image has no entrypoint or cmd: nothing to run');
  });
});

describe('parseMemory', () => {
  it('reads bytes and k/m/g sizes', () => {
    expect(parseMemory('536870912')).toBe(512 << 20);
    expect(parseMemory('512m')).toBe(512 << 20);
    expect(parseMemory('512Mi')).toBe(512 << 20);
    expect(parseMemory('1.5G')).toBe(1.5 * 1024 ** 3);
  });
  it('says what is wrong', () => {
    expect(() => parseMemory('lots')).toThrow('memory limit "lots" is not a size (bytes, or a number with k, m, g: 512m, 2g)');
    expect(() => parseMemory('1m')).toThrow(/below 16 MiB/);
  });
});

describe('openFilesLimit', () => {
  it('takes 65536 unless the hard limit is lower', () => {
    const limits = (hard: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 ${hard}                files\n`;
    expect(openFilesLimit(limits('20000'))).toBe(20000);
    expect(openFilesLimit(limits('1048576'))).toBe(65536);
    expect(openFilesLimit(limits('unlimited'))).toBe(65536);
  });
});
