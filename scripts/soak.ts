/**
 * Load and soak (`npm run soak`; minutes long, not part of the unit tests). Starts `accel serve`
 * as a child process and drives it on loopback with a real photo, one phase per protocol:
 *   grpc  h2load over h2c: framed TF Serving PredictRequests (JPEG in `images`) to Predict
 *   rest  wrk: POST /v1/models/NAME:predict with {"instances": [{"b64": ...}]}
 * Each phase runs a warm-up (not measured), then the measured load. Errors are counted on both
 * sides: by the server (/metrics accel_requests_total by status; a gRPC error travels as HTTP 200
 * with a grpc-status trailer, which h2load counts as a success) and by the load tool (non-2xx,
 * failed streams, socket errors, timeouts). A grpc-js call and a REST call before and after the
 * load must return the same probabilities. The server's RSS (/proc/PID/status VmRSS) is read
 * after the warm-up and after the phase. Prints a table, writes bench/out/soak.json; exits 1 on
 * any error, a changed answer or RSS growth over 10%, and 2 when h2load or wrk is missing.
 *
 * Flags (argv, or env):
 *   --seconds N      SOAK_SECONDS      measured load per phase (default 60)
 *   --warmup N       SOAK_WARMUP       warm-up per phase, not measured (default 10)
 *   --concurrency N  SOAK_CONCURRENCY  requests in flight (default 8)
 *   --connections N  SOAK_CONNECTIONS  HTTP/2 connections of h2load (default 2); wrk uses one
 *                                      HTTP/1.1 connection per request in flight
 *   --model NAME     SOAK_MODEL        resnet50 (default: ResNet-50-sized, random weights), any
 *                                      other zoo architecture, or tiny (the test classifier: a
 *                                      fast smoke run that mostly measures transport and decode)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { loadServingProtos, protobufRoot } from '@accel/client/proto';
import { SAMPLE_PHOTO } from '../packages/accel/src/assets';
import { buildZooModel } from '../packages/accel/src/zoo/build';
import { architecture } from '../packages/accel/src/zoo/catalog';
import { tinyClassifier } from '../packages/accel/src/test-util/models';

const HERE = dirname(fileURLToPath(import.meta.url));
const RSS_LIMIT_PERCENT = 10;
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function options() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      connections: { type: 'string' },
      model: { type: 'string' },
    },
  });
  const num = (flag: string, value: string | undefined, fallback: number, min: number) => {
    const n = Number(value ?? fallback);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} must be an integer of at least ${min}, got "${value}"`);
    return n;
  };
  const env = process.env;
  const concurrency = num('concurrency', values.concurrency ?? env.SOAK_CONCURRENCY, 8, 1);
  const connections = Math.min(concurrency, num('connections', values.connections ?? env.SOAK_CONNECTIONS, 2, 1));
  return {
    seconds: num('seconds', values.seconds ?? env.SOAK_SECONDS, 60, 1),
    warmup: num('warmup', values.warmup ?? env.SOAK_WARMUP, 10, 0),
    concurrency,
    connections,
    // h2load opens `connections` connections with up to `streams` calls in flight on each.
    streams: Math.ceil(concurrency / connections),
    model: values.model ?? env.SOAK_MODEL ?? 'resnet50',
  };
}
type Options = ReturnType<typeof options>;

function checkTools(): void {
  const missing = ['h2load', 'wrk'].filter((tool) => spawnSync('which', [tool]).status !== 0);
  if (missing.length === 0) return;
  console.error(`soak needs ${missing.join(' and ')} on PATH. Install (Debian): apt-get install -y ${missing.map((t) => (t === 'h2load' ? 'nghttp2-client' : 'wrk')).join(' ')}`);
  process.exit(2);
}

/** Writes the model (and a zoo model's sidecar) into `dir`; returns its served name and path. */
function writeModel(dir: string, model: string): { name: string; path: string } {
  if (model === 'tiny') {
    const path = join(dir, 'tiny.onnx');
    writeFileSync(path, tinyClassifier({ size: 224 }));
    return { name: 'tiny', path };
  }
  process.stderr.write(`building ${model}-random (random weights: load and memory only) ...\n`);
  const built = buildZooModel(architecture(model));
  const path = join(dir, `${built.name}.onnx`);
  writeFileSync(path, built.bytes);
  writeFileSync(join(dir, `${built.name}.accel.json`), JSON.stringify(built.sidecar));
  return { name: built.name, path };
}

interface Server {
  child: ChildProcess;
  grpcPort: number;
  restPort: number;
  stderr: () => string;
}

async function startServer(name: string, path: string): Promise<Server> {
  const bin = join(HERE, '..', 'packages', 'accel', 'bin', 'accel.js');
  const args = [bin, 'serve', '--model', `${name}=${path}`, '--host', '127.0.0.1', '--grpc-port', '0', '--rest-port', '0', '-o', 'json', '--log-level', 'warn'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-20_000)));
  let text = '';
  for await (const line of createInterface({ input: child.stdout! })) {
    text += line + '\n';
    try {
      const summary = JSON.parse(text) as { grpc: string; rest: string };
      const port = (address: string) => Number(address.split(':').pop());
      return { child, grpcPort: port(summary.grpc), restPort: port(summary.rest), stderr: () => err };
    } catch {
      /* the JSON summary spans several lines */
    }
  }
  throw new Error(`accel serve exited before it was ready:\n${err}`);
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

interface MetricsSnapshot {
  /** accel_requests_total by protocol, then status. */
  counts: Map<string, Map<string, number>>;
  /** V8 heap in use and memory held outside it (Buffers), to tell them from native growth. */
  heapUsedMiB: number;
  externalMiB: number;
}

async function metrics(restPort: number): Promise<MetricsSnapshot> {
  const text = await (await fetch(`http://127.0.0.1:${restPort}/metrics`)).text();
  const counts = new Map<string, Map<string, number>>();
  for (const m of text.matchAll(/^accel_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const label = (key: string) => new RegExp(`${key}="([^"]*)"`).exec(m[1])?.[1] ?? '';
    const byStatus = counts.get(label('protocol')) ?? new Map<string, number>();
    byStatus.set(label('status'), (byStatus.get(label('status')) ?? 0) + Number(m[2]));
    counts.set(label('protocol'), byStatus);
  }
  const gauge = (name: string) => mib(Number(new RegExp(`^accel_process_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN));
  return { counts, heapUsedMiB: gauge('nodejs_heap_size_used_bytes'), externalMiB: gauge('nodejs_external_memory_bytes') };
}

function countsSince(before: Map<string, Map<string, number>>, after: Map<string, Map<string, number>>, protocol: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [status, n] of after.get(protocol) ?? []) {
    const delta = n - (before.get(protocol)?.get(status) ?? 0);
    if (delta) out[status] = delta;
  }
  return out;
}

/** The PredictRequest a TF Serving client sends for one JPEG, serialized. */
function predictRequestBytes(model: string, jpeg: Buffer): Uint8Array {
  const type = protobufRoot().lookupType('tensorflow.serving.PredictRequest');
  const message = type.fromObject({
    model_spec: { name: model },
    inputs: { images: { dtype: 'DT_STRING', tensor_shape: { dim: [{ size: 1 }] }, string_val: [jpeg] } },
    output_filter: ['output_alias'],
  });
  return type.encode(message).finish();
}

/** gRPC's length-prefixed message: compressed flag 0, big-endian length, the message. */
function grpcFrame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** One Predict through grpc-js (a real gRPC client, reading grpc-status) and one through REST. */
async function answers(server: Server, model: string, jpeg: Buffer): Promise<{ grpc: number[]; rest: number[] }> {
  const { PredictionService } = loadServingProtos();
  const client = new PredictionService(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  const request = {
    model_spec: { name: model },
    inputs: { images: { dtype: 'DT_STRING', tensor_shape: { dim: [{ size: 1 }] }, string_val: [jpeg] } },
    output_filter: ['output_alias'],
  };
  type Reply = { outputs: Record<string, { tensor_content?: Buffer; float_val?: number[] }> };
  const predict = (client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Reply) => void) => void>).Predict.bind(client);
  const reply = await new Promise<Reply>((resolve, reject) => predict(request, { deadline: Date.now() + 60_000 }, (e, r) => (e ? reject(e) : resolve(r))));
  client.close();
  const t = reply.outputs.output_alias;
  const c = t.tensor_content ? Buffer.from(t.tensor_content) : undefined;
  const grpcProbs = c?.length ? Array.from(new Float32Array(c.buffer, c.byteOffset, c.length / 4)) : (t.float_val ?? []);
  const res = await fetch(`http://127.0.0.1:${server.restPort}/v1/models/${model}:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instances: [{ b64: jpeg.toString('base64') }] }),
  });
  if (!res.ok) throw new Error(`REST predict answered ${res.status}: ${await res.text()}`);
  const restProbs = ((await res.json()) as { predictions: number[][] }).predictions[0];
  return { grpc: grpcProbs, rest: restProbs };
}

/** Largest absolute difference, Infinity when the lengths differ or a value is not finite. */
function maxDiff(a: number[], b: number[]): number {
  if (a.length !== b.length || a.length === 0) return Infinity;
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

interface ToolRun {
  ok: number;
  /** Failures the load tool saw itself: non-2xx, failed or reset streams, socket errors, timeouts. */
  errors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  detail: Record<string, number>;
}

function run(cmd: string, args: string[], seconds: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: (seconds + 120) * 1000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code ?? signal}:\n${out}\n${err}`))));
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

async function h2load(o: Options, url: string, bodyFile: string, logFile: string, seconds: number): Promise<ToolRun> {
  const out = await run(
    'h2load',
    ['-D', String(seconds), '-c', String(o.connections), '-m', String(o.streams), '-t', '1', '-d', bodyFile,
      '-H', 'content-type: application/grpc', '-H', 'te: trailers', '--log-file', logFile, url],
    seconds,
  );
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const finished = /finished in ([\d.]+)s/.exec(out);
  if (!req || !codes || !finished) throw new Error(`cannot read h2load's report:\n${out}`);
  const [done, succeeded, failed, errored, timeout] = [3, 4, 5, 6, 7].map((i) => Number(req[i]));
  // Per request: start (µs since epoch), HTTP status, µs to the end of the response.
  const rows = readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t').map(Number));
  const latencies = rows.filter((r) => r[1] === 200).map((r) => r[2] / 1000).sort((a, b) => a - b);
  const non2xx = Number(codes[2]) + Number(codes[3]) + Number(codes[4]);
  return {
    ok: Number(codes[1]),
    errors: failed + errored + timeout + non2xx,
    seconds: Number(finished[1]),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    detail: { done, succeeded, failed, errored, timeout, non2xx },
  };
}

/** wrk with a Lua script that posts the body and reports the summary as one JSON line. */
async function wrk(o: Options, url: string, bodyFile: string, luaFile: string, seconds: number): Promise<ToolRun> {
  writeFileSync(
    luaFile,
    `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('SOAK {"requests":%d,"us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
`,
  );
  const out = await run('wrk', ['-t', '1', '-c', String(o.concurrency), '-d', `${seconds}s`, '--timeout', '60s', '-s', luaFile, url], seconds);
  const line = /^SOAK (\{.*\})$/m.exec(out);
  if (!line) throw new Error(`cannot read wrk's report:\n${out}`);
  const r = JSON.parse(line[1]) as Record<string, number>;
  const errors = r.connect + r.read + r.write + r.status + r.timeout;
  return {
    ok: r.requests - r.status,
    errors,
    seconds: r.us / 1e6,
    p50Ms: r.p50 / 1000,
    p99Ms: r.p99 / 1000,
    detail: { requests: r.requests, connect: r.connect, read: r.read, write: r.write, non2xx: r.status, timeout: r.timeout },
  };
}

interface Phase {
  protocol: 'grpc' | 'rest';
  tool: string;
  seconds: number;
  requests: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  clientErrors: number;
  /** Non-OK statuses the server counted (warm-up included), CANCELLED at the ends of runs left out. */
  serverErrors: number;
  serverStatuses: Record<string, number>;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  rssChangePercent: number;
  /** [seconds into the measured load, RSS MiB] once a second. */
  rssSamplesMiB: [number, number][];
  heapUsedMiB: { before: number; after: number };
  externalMiB: { before: number; after: number };
  toolDetail: Record<string, number>;
}

async function phase(o: Options, server: Server, protocol: Phase['protocol'], drive: (seconds: number) => Promise<ToolRun>): Promise<Phase> {
  const m0 = await metrics(server.restPort);
  if (o.warmup > 0) await drive(o.warmup);
  const warm = await metrics(server.restPort);
  const rss0 = rssBytes(server.child.pid!);
  // RSS once a second during the load: a plateau and a steady climb can end at the same figure.
  const started = performance.now();
  const samples: [number, number][] = [];
  const timer = setInterval(() => {
    try {
      samples.push([Math.round((performance.now() - started) / 100) / 10, mib(rssBytes(server.child.pid!))]);
    } catch {
      /* the server is gone: the load tool and the final reading report it */
    }
  }, 1000);
  const r = await drive(o.seconds).finally(() => clearInterval(timer));
  const rss1 = rssBytes(server.child.pid!);
  const m1 = await metrics(server.restPort);
  const statuses = countsSince(m0.counts, m1.counts, protocol);
  // A load tool stops with calls in flight and resets them: the server counts those CANCELLED.
  // At most `concurrency` per run (warm-up and measured run); more than that is an error.
  const runs = o.warmup > 0 ? 2 : 1;
  const cancelled = statuses.CANCELLED ?? 0;
  const serverErrors = Object.entries(statuses).filter(([s]) => s !== 'OK' && s !== 'CANCELLED').reduce((n, [, c]) => n + c, 0)
    + Math.max(0, cancelled - runs * o.concurrency);
  return {
    protocol,
    tool: protocol === 'grpc' ? 'h2load' : 'wrk',
    seconds: r.seconds,
    requests: r.ok,
    throughput: r.ok / r.seconds,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    clientErrors: r.errors,
    serverErrors,
    serverStatuses: statuses,
    rssBeforeMiB: mib(rss0),
    rssAfterMiB: mib(rss1),
    rssChangePercent: ((rss1 - rss0) / rss0) * 100,
    rssSamplesMiB: samples,
    heapUsedMiB: { before: warm.heapUsedMiB, after: m1.heapUsedMiB },
    externalMiB: { before: warm.externalMiB, after: m1.externalMiB },
    toolDetail: r.detail,
  };
}

function print(o: Options, model: string, phases: Phase[]): void {
  console.log(`\nsoak: ${model}, ${o.seconds} s per phase after ${o.warmup} s warm-up, ${o.concurrency} requests in flight, ${cpus().length} cores`);
  console.log('phase  tool      requests   req/s   p50 ms   p99 ms  errors (client/server)  RSS MiB before -> after  change');
  for (const p of phases) {
    console.log(
      `${p.protocol.padEnd(6)} ${p.tool.padEnd(7)} ${String(p.requests).padStart(9)} ${p.throughput.toFixed(1).padStart(7)} ${p.p50Ms.toFixed(1).padStart(8)} ${p.p99Ms.toFixed(1).padStart(8)}  ${`${p.clientErrors}/${p.serverErrors}`.padStart(22)}  ${`${p.rssBeforeMiB.toFixed(1)} -> ${p.rssAfterMiB.toFixed(1)}`.padStart(23)}  ${`${p.rssChangePercent >= 0 ? '+' : ''}${p.rssChangePercent.toFixed(1)}%`.padStart(6)}`,
    );
  }
  const cancelled = phases.map((p) => `${p.protocol} ${p.serverStatuses.CANCELLED ?? 0}`).join(', ');
  console.log(`server-side CANCELLED, calls in flight when a load tool stopped (not errors): ${cancelled}`);
}

const o = options();
checkTools();
const dir = mkdtempSync(join(tmpdir(), 'accel-soak-'));
let server: Server | undefined;
try {
  const jpeg = readFileSync(SAMPLE_PHOTO);
  const model = writeModel(dir, o.model);
  const grpcBody = join(dir, 'predict.grpc');
  writeFileSync(grpcBody, grpcFrame(predictRequestBytes(model.name, jpeg)));
  const restBody = join(dir, 'predict.json');
  writeFileSync(restBody, JSON.stringify({ instances: [{ b64: jpeg.toString('base64') }] }));

  const loadAverage = loadavg()[0];
  server = await startServer(model.name, model.path);
  const s = server;
  const coldRss = rssBytes(s.child.pid!);
  let exited = false;
  s.child.once('exit', (code, signal) => {
    exited = true;
    if (code !== 0) process.stderr.write(`accel serve exited with ${code ?? signal} during the soak:\n${s.stderr()}\n`);
  });

  const before = await answers(s, model.name, jpeg);
  const grpcUrl = `http://127.0.0.1:${s.grpcPort}/tensorflow.serving.PredictionService/Predict`;
  const restUrl = `http://127.0.0.1:${s.restPort}/v1/models/${model.name}:predict`;
  const phases: Phase[] = [];
  process.stderr.write(`gRPC phase (h2load, ${o.connections} connections x ${o.streams} streams) ...\n`);
  phases.push(await phase(o, s, 'grpc', (secs) => h2load(o, grpcUrl, grpcBody, join(dir, 'h2load.log'), secs)));
  process.stderr.write(`REST phase (wrk, ${o.concurrency} connections) ...\n`);
  phases.push(await phase(o, s, 'rest', (secs) => wrk(o, restUrl, restBody, join(dir, 'post.lua'), secs)));
  const after = await answers(s, model.name, jpeg);

  // Same answer before and after, over both protocols (float32 through JSON: 1e-6 apart at most).
  const drift = Math.max(maxDiff(before.grpc, after.grpc), maxDiff(before.rest, after.rest), maxDiff(before.grpc, before.rest));
  const probabilitySum = before.grpc.reduce((a, b) => a + b, 0);
  s.child.kill('SIGTERM');
  const exitCode = await new Promise<number | null>((resolve) => (exited ? resolve(s.child.exitCode) : s.child.once('exit', (c) => resolve(c))));
  server = undefined;

  print(o, model.name, phases);
  const failures = [
    ...phases.filter((p) => p.clientErrors + p.serverErrors > 0).map((p) => `${p.protocol}: ${p.clientErrors} client-side and ${p.serverErrors} server-side errors (${JSON.stringify(p.serverStatuses)})`),
    ...phases.filter((p) => p.rssChangePercent > RSS_LIMIT_PERCENT).map((p) => `${p.protocol}: RSS grew ${p.rssChangePercent.toFixed(1)}% (limit ${RSS_LIMIT_PERCENT}%)`),
    ...(drift > 1e-5 ? [`answers changed: max difference ${drift} between the calls before and after the load`] : []),
    ...(Math.abs(probabilitySum - 1) > 1e-3 ? [`the answer is not a probability distribution: its ${before.grpc.length} values sum to ${probabilitySum}`] : []),
    ...(exitCode !== 0 ? [`accel serve exited with ${exitCode} on SIGTERM`] : []),
  ];
  const result = {
    model: model.name,
    machine: { cpus: cpus().length, loadAverage1m: loadAverage, node: process.version },
    options: o,
    coldRssMiB: mib(coldRss),
    answerDrift: drift,
    answerClasses: before.grpc.length,
    serverExitCode: exitCode,
    phases,
    failures,
  };
  const outDir = join(HERE, '..', 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'soak.json'), JSON.stringify(result, null, 2));
  console.log(`answers before/after the load: max difference ${drift.toExponential(1)}; server stopped with exit code ${exitCode}`);
  console.log(`wrote ${join(outDir, 'soak.json')}`);
  if (failures.length) {
    console.error(`\nsoak FAILED:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    console.log('soak passed: no errors, RSS flat within 10%');
  }
} finally {
  server?.child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
