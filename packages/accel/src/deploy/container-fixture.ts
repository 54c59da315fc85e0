import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runTool } from './container-exec';

/**
 * A tiny HTTP server for test images: `/readyz` answers 200 (503 while `/run/accel/not-ready`
 * exists); any other path answers what the
 * container looks like from inside (pid, hostname, argv, the keys file, the memory limit,
 * whether /run/accel is writable). Serves HTTPS when given `--tls-cert F --tls-key F`.
 * Exits on SIGTERM after printing `draining`.
 */
const ECHO_SERVER = `
const http = require('http'), https = require('https'), os = require('os'), fs = require('fs');
const arg = (flag) => { const i = process.argv.indexOf(flag); return i < 0 ? undefined : process.argv[i + 1]; };
const read = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch (e) { return 'error: ' + e.code; } };
const writable = (f) => { try { fs.writeFileSync(f, 'x'); return 'writable'; } catch (e) { return e.code; } };
const tls = arg('--tls-cert') ? { cert: fs.readFileSync(arg('--tls-cert')), key: fs.readFileSync(arg('--tls-key')) } : undefined;
(tls ? https.createServer.bind(null, tls) : http.createServer)((req, res) => {
  if (req.url === '/readyz') {
    if (fs.existsSync('/run/accel/not-ready')) res.statusCode = 503;
    return res.end(res.statusCode === 503 ? 'not ready' : 'ready');
  }
  const keysFile = arg('--api-keys-file');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({
    pid: process.pid, ppid: process.ppid, hostname: os.hostname(), uid: process.getuid(), argv: process.argv.slice(1),
    keysFile, keys: keysFile ? read(keysFile) : null, memoryLimit: read('/sys/fs/cgroup/memory/memory.limit_in_bytes').trim(),
    runMount: writable('/run/accel/probe'), tls: Boolean(tls),
    url: req.url,
  }));
}).listen(8501, '0.0.0.0', () => console.log('echo server listening on 8501'));
process.on('SIGTERM', () => { console.log('draining'); process.exit(0); });
`;

/** The files node needs to start: the binary, the shared libraries `ldd` lists, and the loader. */
async function nodeFiles(): Promise<string[]> {
  const out = await runTool('ldd', [process.execPath]);
  const libs = [...out.matchAll(/(\/\S+)/g)].map((m) => m[1]);
  return [...new Set(libs)];
}

/**
 * Builds a test OCI image layout (`<dir>/oci`, tag `test`) holding node, its libraries and an
 * echo server (see {@link ECHO_SERVER}), entrypoint `node /app/server.js`, running as uid/gid
 * 1000 unless `user` says otherwise. Needs root and umoci. `cleanup()` removes everything.
 */
export async function buildEchoImage(opts: { user?: string } = {}): Promise<{ layoutDir: string; ref: string; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'accel-echo-image-'));
  const layoutDir = join(dir, 'oci');
  const ref = 'test';
  const bundle = join(dir, 'bundle');
  try {
    await runTool('umoci', ['init', '--layout', layoutDir]);
    await runTool('umoci', ['new', '--image', `${layoutDir}:${ref}`]);
    await runTool('umoci', ['unpack', '--image', `${layoutDir}:${ref}`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    for (const d of ['usr/local/bin', 'app', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(process.execPath, join(rootfs, 'usr/local/bin/node'));
    for (const lib of await nodeFiles()) {
      mkdirSync(join(rootfs, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(rootfs, lib));
    }
    writeFileSync(join(rootfs, 'app/server.js'), ECHO_SERVER);
    await runTool('umoci', ['repack', '--image', `${layoutDir}:${ref}`, bundle]);
    await runTool('umoci', ['config', '--image', `${layoutDir}:${ref}`, '--config.entrypoint', '/usr/local/bin/node', '--config.cmd', '/app/server.js', '--config.user', opts.user ?? '1000:1000']);
    rmSync(bundle, { recursive: true, force: true });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { layoutDir, ref, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
