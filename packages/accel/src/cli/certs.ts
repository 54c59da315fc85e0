import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { AccelError } from '../errors';
import { collect } from './common';
import { emit, parseOutputFormat, renderTable } from './output';

export interface DevCertsOptions {
  /** Folder for the files; created if missing. */
  out: string;
  /** Extra names (DNS or IP) for the server certificate, besides localhost, 127.0.0.1 and ::1. */
  hosts?: readonly string[];
  /** Validity of every certificate. Default 365. */
  days?: number;
  /** Also a client certificate (client.crt/client.key) for mutual TLS. */
  client?: boolean;
  /** Overwrite files that exist. */
  force?: boolean;
}

export interface DevCerts {
  dir: string;
  ca: { cert: string; key: string };
  server: { cert: string; key: string };
  client?: { cert: string; key: string };
  /** The server certificate's subjectAltName entries. */
  subjectAltNames: string[];
  notAfter: string;
}

const usage = (reason: string) => new AccelError('ACCEL_ERR_USAGE', { reason });
/** A DNS name (wildcards allowed) or an IP address: nothing that could break the OpenSSL config. */
const HOST = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

function altNames(hosts: readonly string[]): string[] {
  const names = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1'];
  for (const h of hosts) {
    if (!isIP(h) && !HOST.test(h)) throw usage(`--host must be a DNS name or an IP address, got "${h}"`);
    const entry = `${isIP(h) ? 'IP' : 'DNS'}:${h}`;
    if (!names.includes(entry)) names.push(entry);
  }
  return names;
}

/** One OpenSSL config for every step: no dependence on the system's openssl.cnf. */
function opensslConfig(sans: readonly string[]): string {
  return `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = ${sans.join(', ')}
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;
}

function openssl(args: string[], dir: string): Promise<void> {
  return new Promise((resolvePromise, reject) =>
    execFile('openssl', args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolvePromise();
      const reason =
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'the openssl command is not installed or not on PATH (Debian: apt-get install openssl)'
          : `openssl ${args[0]} failed: ${(stderr || err.message).trim().split('\n').slice(0, 3).join(' ')}`;
      reject(new AccelError('ACCEL_ERR_CERTS_FAILED', { dir, reason }));
    }),
  );
}

/**
 * Makes a development CA and a server certificate it signs (ECDSA P-256, with the `openssl`
 * command), optionally a client certificate for mutual TLS. Keys are written unencrypted, mode 0600.
 *
 * @example
 * const certs = await createDevCerts({ out: 'certs', hosts: ['scorer.lan'], client: true });
 * // accel serve --tls-cert certs/server.crt --tls-key certs/server.key --tls-ca certs/ca.crt
 */
export async function createDevCerts(opts: DevCertsOptions): Promise<DevCerts> {
  const dir = resolve(opts.out);
  const days = opts.days ?? 365;
  if (!Number.isSafeInteger(days) || days < 1) throw usage(`--days must be a positive integer, got "${opts.days}"`);
  const sans = altNames(opts.hosts ?? []);
  const pair = (name: string) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const ca = pair('ca');
  const server = pair('server');
  const client = opts.client ? pair('client') : undefined;
  const files = [ca, server, ...(client ? [client] : [])].flatMap((p) => [p.cert, p.key]);
  if (!opts.force) {
    const there = files.filter((f) => existsSync(f));
    if (there.length) throw usage(`${there.join(', ')} already exist${there.length === 1 ? 's' : ''}: give --force to overwrite, or another --out`);
  }
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, '.certs-'));
  try {
    const cnf = join(work, 'openssl.cnf');
    writeFileSync(cnf, opensslConfig(sans));
    const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    const leaf = async (p: { cert: string; key: string }, cn: string, ext: string) => {
      const csr = join(work, `${ext}.csr`);
      await openssl(['req', '-new', '-config', cnf, ...newKey, '-keyout', p.key, '-out', csr, '-subj', `/CN=${cn}`], dir);
      await openssl(
        ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(days),
          '-extfile', cnf, '-extensions', ext, '-sha256', '-out', p.cert],
        dir,
      );
    };
    await openssl(['req', '-x509', '-config', cnf, '-extensions', 'ca_ext', ...newKey, '-keyout', ca.key, '-out', ca.cert, '-days', String(days), '-sha256',
      '-subj', '/CN=Accel development CA'], dir);
    await leaf(server, (opts.hosts ?? [])[0] ?? 'localhost', 'server_ext');
    if (client) await leaf(client, 'accel-client', 'client_ext');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const f of files) chmodSync(f, f.endsWith('.key') ? 0o600 : 0o644);
  const notAfter = new Date(new X509Certificate(readFileSync(server.cert)).validTo).toISOString();
  return { dir, ca, server, ...(client ? { client } : {}), subjectAltNames: sans, notAfter };
}

interface CreateFlags {
  out: string;
  host: string[];
  days: string;
  client?: boolean;
  force?: boolean;
  output: string;
}

/** `accel certs create`: development certificates for `accel serve --tls-cert/--tls-key/--tls-ca`. */
export function certsCommand(): Command {
  const certs = new Command('certs').description('Development TLS certificates: a private CA, a server certificate, a client certificate for mutual TLS');
  certs.addCommand(
    new Command('create')
      .description('Write ca.crt/ca.key and server.crt/server.key signed by that CA (with --client also client.crt/client.key); needs the openssl command')
      .option('--out <dir>', 'folder for the files', 'certs')
      .option('--host <name>', 'another DNS name or IP address the server is reached at (repeatable; localhost, 127.0.0.1 and ::1 are always in)', collect, [])
      .option('--days <n>', 'validity in days', '365')
      .option('--client', 'also a client certificate (client.crt/client.key) for mutual TLS (accel serve --tls-ca)')
      .option('--force', 'overwrite files that exist')
      .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
      .addHelpText(
        'after',
        `
For development and tests only: the CA key is left unencrypted beside the certificates. Use them as
  accel serve --tls-cert DIR/server.crt --tls-key DIR/server.key [--tls-ca DIR/ca.crt]
  new PredictionClient({ address, tls: { ca, cert, key } })   // ca.crt; client.crt/client.key with --tls-ca`,
      )
      .action(async (flags: CreateFlags) => {
        const format = parseOutputFormat(flags.output);
        if (!/^\d+$/.test(flags.days)) throw usage(`--days must be a positive integer, got "${flags.days}"`);
        const made = await createDevCerts({ out: flags.out, hosts: flags.host, days: Number(flags.days), client: flags.client, force: flags.force });
        const rows = [['CA', made.ca.cert, made.ca.key], ['server', made.server.cert, made.server.key], ...(made.client ? [['client', made.client.cert, made.client.key]] : [])];
        emit(format, made, () =>
          [renderTable(['ROLE', 'CERTIFICATE', 'KEY'], rows), `server names: ${made.subjectAltNames.join(', ')}; valid until ${made.notAfter}`].join('\n'),
        );
      }),
  );
  return certs;
}
