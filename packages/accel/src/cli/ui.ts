import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { AccelError } from '../errors';
import { checkTls } from '../protocols/server';
import { keysFile } from '../ui/keys';
import { isLoopbackName } from '../ui/origin';
import { buildUiServer } from '../ui/server';
import { errorBody } from '../ui/validate';
import { withWorkspace, workspaceCommand, type CommonFlags } from './common';
import { emit } from './output';

interface UiFlags extends CommonFlags {
  port: number;
  host: string;
  maxUploadMb: number;
  tlsCert?: string;
  tlsKey?: string;
}

const usage = (reason: string) => new AccelError('ACCEL_ERR_USAGE', { reason });

function number(flag: string, ok: (n: number) => boolean, what: string) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !ok(n)) throw usage(`${flag} must be ${what}, got "${v}"`);
    return n;
  };
}


function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw usage(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function tlsPair(flags: UiFlags): { cert: Buffer; key: Buffer } | undefined {
  if (!flags.tlsCert && !flags.tlsKey) return undefined;
  if (!flags.tlsCert || !flags.tlsKey) throw usage('--tls-cert and --tls-key go together: give both, or neither for plain http');
  const pair = { cert: readPem('--tls-cert', flags.tlsCert), key: readPem('--tls-key', flags.tlsKey) };
  checkTls({ ...pair, certFile: flags.tlsCert, keyFile: flags.tlsKey });
  return pair;
}

const HELP = `
Security:
  With a workspace key (accel workspace key create), every /api call but GET /api/health needs
  "Authorization: Bearer KEY"; the pages ask for the key in the browser. The key is kept only as
  its SHA-256 in <workspace>/api-keys.json and is looked at on every request, so creating or
  deleting it takes effect at once. Without a key the dashboard is open to anyone who can reach
  it, so a --host other than loopback (127.0.0.1, ::1, localhost) is refused then; serve it
  over https with --tls-cert/--tls-key (PEM) when it leaves this machine.`;

/** `accel ui`: the dashboard and its control-plane API over a workspace, until SIGINT or SIGTERM. */
export function uiCommand() {
  return workspaceCommand('ui', 'Serve the web dashboard and its control-plane HTTP API (/api) over the workspace')
    .option('--port <port>', 'port (0: any free port)', number('--port', (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'a port from 0 to 65535'), 8080)
    .option('--host <host>', 'address to listen on (other than loopback only when the workspace has a key)', '127.0.0.1')
    .option('--max-upload-mb <mb>', 'largest model upload, all its files together', number('--max-upload-mb', (n) => n > 0 && Number.isFinite(n), 'a positive number'), 2048)
    .option('--tls-cert <file>', 'PEM certificate (chain): serve over https (needs --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .addHelpText('after', HELP)
    .action(async (flags: UiFlags) => {
      const https = tlsPair(flags);
      await withWorkspace(flags, async (ws, format) => {
        // Only this machine can reach a loopback address: the one case where the dashboard may run without a key.
        const exposed = !isLoopbackName(flags.host);
        if (exposed && !existsSync(keysFile(ws.dir))) {
          throw usage(`--host ${flags.host} would open the workspace ${ws.dir} to the network without a key: create one with \`accel workspace key create --workspace ${ws.dir}\`, or listen on 127.0.0.1`);
        }
        const { app, keys } = await buildUiServer({ ws, maxUploadBytes: Math.floor(flags.maxUploadMb * 1024 * 1024), https, loopbackOnly: !exposed });
        if (exposed) {
          // Deleting the key later must not open a dashboard that others can reach.
          app.addHook('onRequest', async (req, reply) => {
            if (keys.enabled || !req.url.startsWith('/api/') || req.url.split('?')[0] === '/api/health') return;
            const { status, body } = errorBody(new AccelError('ACCEL_ERR_UNAUTHENTICATED', { problem: `the workspace key was deleted and ${flags.host} is not loopback; create a key again` }));
            return reply.code(status).send(body);
          });
        }
        try {
          await app.listen({ host: flags.host, port: flags.port });
        } catch (err) {
          await app.close();
          throw usage(`cannot listen on ${flags.host}:${flags.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        const { port } = app.server.address() as AddressInfo;
        const url = `${https ? 'https' : 'http'}://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${port}`;
        emit(format, { url, workspace: ws.dir, auth: keys.enabled }, () => `accel ui: ${url} (workspace ${ws.dir})`);
        process.stderr.write(
          keys.enabled
            ? `protected by the workspace key (${keys.file}): send "Authorization: Bearer KEY"\n`
            : `open: the workspace has no key; anyone on this machine can use it (\`accel workspace key create\` protects it)\n`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await app.close();
      });
    });
}
