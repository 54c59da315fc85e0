import { mkdirSync, readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadServingProtos } from '@accel/client/proto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import YAML from 'yaml';
import { main } from '../cli/main';
import { modelDir, tinyClassifier } from '../test-util/models';
import { samplePhoto, solidPng, startTestServer } from '../test-util/server';
import { renderChart } from './chart';

const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;
let photo: string;
let folder: string;

beforeAll(async () => {
  server = await startTestServer([{ name: 'tiny', path: files.write('tiny.onnx', tinyClassifier({ size: 32 })) }]);
  photo = files.write('photo.jpg', await samplePhoto());
  mkdirSync(`${files.dir}/set`);
  files.write('set/a.jpg', await samplePhoto());
  files.write('set/b.png', await solidPng(10, 200, 30));
  files.write('set/notes.txt', 'not an image');
  folder = `${files.dir}/set`;
});
afterAll(async () => {
  await server?.shutdown();
  files.cleanup();
});

/** Runs `accel bench ...` in this process and captures what it prints. */
async function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    const code = await main(['node', 'accel', 'bench', '--duration', '0.3s', '--warmup', '0.1s', '--concurrency', '1,2', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('accel bench against a real server', () => {
  it('grpc, -o json: a result per level, errors by status, the server split from --metrics-url', async () => {
    const r = await bench(['--address', server.grpcAddress, '--model', 'tiny', '--images', photo, '--metrics-url', `${server.rest}/metrics`, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ model: 'tiny', protocol: 'grpc', imageSource: photo, batch: 1, durationS: 0.3, warmupS: 0.1, metricsUrl: `${server.rest}/metrics`, chart: null });
    expect(report.levels.map((l: { concurrency: number }) => l.concurrency)).toEqual([1, 2]);
    for (const level of report.levels) {
      expect(Object.keys(level).sort()).toEqual(
        ['concurrency', 'requests', 'ok', 'failed', 'errors', 'images', 'durationS', 'imagesPerSec', 'requestsPerSec', 'latencyMs', 'server'].sort(),
      );
      expect(level.ok).toBeGreaterThan(0);
      expect(level.failed).toBe(0);
      expect(level.errors).toEqual({});
      expect(level.images).toBe(level.ok);
      expect(level.imagesPerSec).toBeGreaterThan(0);
      const { p50, p90, p99, max } = level.latencyMs;
      expect(p50).toBeGreaterThan(0);
      expect(p50 <= p90 && p90 <= p99 && p99 <= max).toBe(true);
      // The server's counters are read with nothing in flight, so they hold exactly the measured requests.
      expect(level.server.requests).toBe(level.ok);
      for (const k of ['queueMs', 'preprocessMs', 'inferenceMs', 'totalMs']) expect(level.server[k]).toBeGreaterThanOrEqual(0);
      expect(level.server.inferenceMs).toBeGreaterThan(0);
    }
    expect(r.stderr).toMatch(/bench: level 1\/2, concurrency 1: (warm-up|measuring)/);
    expect(r.stderr).toMatch(/bench: concurrency 2: [\d.]+ images\/s/);
  });

  it('rest, table: a folder of images in batches of 2, the default REST metrics URL, and an SVG chart of the same data', async () => {
    const chart = `${files.dir}/bench.svg`;
    const r = await bench(['--address', server.rest, '--protocol', 'rest', '--model', 'tiny', '--images', folder, '--batch', '2', '--chart', chart]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^tiny over rest at http:\/\/127\.0\.0\.1:\d+, batch 2, 0\.3 s per level after 0\.1 s warm-up, images: .*set \(2 files\)$/);
    expect(lines[1].split(/\s{2,}/)).toEqual(['CONCURRENCY', 'REQUESTS', 'IMAGES/S', 'P50 MS', 'P90 MS', 'P99 MS', 'MAX MS', 'ERRORS', 'QUEUE MS', 'PREPROCESS MS', 'INFERENCE MS']);
    const rows = lines.slice(2, 4).map((l) => l.split(/\s{2,}/));
    expect(rows.map((row) => row[0])).toEqual(['1', '2']);
    for (const row of rows) {
      expect(row).toHaveLength(11);
      expect(row[7]).toBe('0');
      expect(row.slice(8).every((v) => /^\d+\.\d\d$/.test(v)), 'server split columns').toBe(true);
    }
    expect(lines.at(-1)).toBe(`chart: ${chart}`);

    const svg = readFileSync(chart, 'utf8');
    expect(svg).toContain('accel bench: tiny over rest, batch 2');
    expect(svg).toContain('throughput (images/s)');
    expect(svg).toContain('p99 latency (ms)');
    expect(svg.match(/<circle /g)).toHaveLength(4);
  });

  it('-o yaml carries the same fields, and the chart is the report drawn', async () => {
    const chart = `${files.dir}/bench2.svg`;
    const r = await bench(['--address', server.grpcAddress, '--model', 'tiny', '--concurrency', '3', '--chart', chart, '-o', 'yaml']);
    expect(r.code, r.stderr).toBe(0);
    const report = YAML.parse(r.stdout);
    expect(report.metricsUrl).toBeNull(); // gRPC: the REST port is unknown, no default
    expect(report.levels).toHaveLength(1);
    expect(report.levels[0].server).toBeNull();
    const points = report.levels.map((l: any) => ({ concurrency: l.concurrency, imagesPerSec: l.imagesPerSec, p99Ms: l.latencyMs.p99 }));
    expect(readFileSync(chart, 'utf8')).toBe(renderChart({ title: 'accel bench: tiny over grpc, batch 1', points }));
  });

  it('counts every failed request by status and exits 1 when none succeeded', async () => {
    for (const protocol of ['grpc', 'rest']) {
      const address = protocol === 'grpc' ? server.grpcAddress : server.rest;
      const r = await bench(['--address', address, '--protocol', protocol, '--model', 'nope', '--metrics-url', `${server.rest}/metrics`, '-o', 'json']);
      expect(r.code, protocol).toBe(1);
      const report = JSON.parse(r.stdout);
      for (const level of report.levels) {
        expect(level.requests).toBeGreaterThan(0);
        expect(level).toMatchObject({ ok: 0, images: 0, imagesPerSec: 0, latencyMs: null, server: null });
        expect(level.failed).toBe(level.requests);
        expect(level.errors).toEqual({ NOT_FOUND: level.requests });
      }
      expect(report.errorMessages.NOT_FOUND).toMatch(/Model "nope" is not served here/);
      const error = JSON.parse(r.stderr.trim().split('\n').at(-1)!).error;
      expect(error.code).toBe('NOT_FOUND');
      expect(error.message).toMatch(/^every request failed \(\d+ requests\): NOT_FOUND: Model "nope"/);
    }
  });

  it('exits 2 on bad flags, naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--concurrency', '0,2'], /--concurrency takes comma-separated integers/],
      [['--duration', 'soon'], /--duration must be a positive duration/],
      [['--batch', '1.5'], /--batch must be a positive integer/],
      [['--protocol', 'smtp'], /Allowed choices are grpc, rest, kserve-grpc, kserve-rest/],
      [['--images', `${files.dir}/missing.jpg`], /--images: .*missing\.jpg does not exist/],
      [['--images', `${files.dir}/set/notes.txt`], /is not a JPEG or PNG file/],
      [['--address', 'bad address'], /cannot create the grpc client: 'address' must be host/],
      [['--metrics-url', 'http://127.0.0.1:1/metrics'], /--metrics-url: cannot read metrics from http:\/\/127\.0\.0\.1:1\/metrics/],
    ];
    for (const [args, message] of cases) {
      const r = await bench(['--address', server.grpcAddress, '--model', 'tiny', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });
});

/** Whether the server answers KServe v2 yet: 404 on GET /v2 (REST) or UNIMPLEMENTED on ServerLive (gRPC) means not. */
async function kserveServed(protocol: 'kserve-rest' | 'kserve-grpc'): Promise<string | undefined> {
  if (protocol === 'kserve-rest') {
    const res = await fetch(`${server.rest}/v2`);
    return res.status === 404 ? `GET /v2 answered 404` : undefined;
  }
  const { GRPCInferenceService } = loadServingProtos();
  const client = new GRPCInferenceService(server.grpcAddress, grpc.credentials.createInsecure());
  try {
    const code = await new Promise<number>((resolve) =>
      (client as unknown as { ServerLive(req: object, cb: (err: grpc.ServiceError | null) => void): void }).ServerLive({}, (err) => resolve(err?.code ?? 0)),
    );
    return code === grpc.status.UNIMPLEMENTED ? 'ServerLive answered UNIMPLEMENTED' : undefined;
  } finally {
    client.close();
  }
}

describe('accel bench over KServe v2 (skipped while the server does not serve /v2)', () => {
  for (const protocol of ['kserve-rest', 'kserve-grpc'] as const) {
    it(`${protocol}: measures successful requests, and counts NOT_FOUND for an unknown model`, async (ctx) => {
      const missing = await kserveServed(protocol);
      if (missing) ctx.skip(`${protocol} not served yet: ${missing}`);
      const address = protocol === 'kserve-rest' ? server.rest : server.grpcAddress;
      const r = await bench(['--address', address, '--protocol', protocol, '--model', 'tiny', '--batch', '2', '--metrics-url', `${server.rest}/metrics`, '-o', 'json']);
      expect(r.code, r.stderr).toBe(0);
      for (const level of JSON.parse(r.stdout).levels) {
        expect(level.failed).toBe(0);
        expect(level.images).toBe(2 * level.ok);
        expect(level.server.requests).toBe(level.ok);
      }
      const bad = await bench(['--address', address, '--protocol', protocol, '--model', 'nope', '--concurrency', '1', '-o', 'json']);
      expect(bad.code).toBe(1);
      const [level] = JSON.parse(bad.stdout).levels;
      expect(level.errors).toEqual({ NOT_FOUND: level.requests });
    });
  }
});
