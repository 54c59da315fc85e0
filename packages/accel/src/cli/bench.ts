import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { AccelError } from '../errors';
import { renderChart } from '../bench/chart';
import { loadImages } from '../bench/images';
import { parseConcurrency, parseDuration, parsePositiveInt, resolveMetricsUrl } from '../bench/options';
import { runBench, type BenchEvent, type LevelResult } from '../bench/runner';
import { scrape } from '../bench/server-metrics';
import { BENCH_PROTOCOLS, type BenchProtocol } from '../bench/types';
import { emit, parseOutputFormat, renderTable } from './output';

export interface BenchFlags {
  address: string;
  model: string;
  modelVersion?: string;
  protocol: BenchProtocol;
  concurrency: string;
  duration: string;
  warmup: string;
  images?: string;
  batch: string;
  timeout: string;
  metricsUrl?: string;
  chart?: string;
  output: string;
}

/** What `accel bench` prints (-o json|yaml) and what its table shows. */
export interface BenchReport {
  model: string;
  version: string | null;
  protocol: BenchProtocol;
  address: string;
  batch: number;
  warmupS: number;
  durationS: number;
  /** The image file or folder sent, round-robin. */
  imageSource: string;
  metricsUrl: string | null;
  chart: string | null;
  levels: LevelResult[];
  /** The first message seen per error status. */
  errorMessages: Record<string, string>;
}

/** Raised after the report is printed when no request succeeded; `codeName` is what reportError shows. */
class EveryRequestFailed extends Error {
  constructor(
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

export function benchCommand(): Command {
  return new Command('bench')
    .description('Load a running server with a fixed number of requests in flight per level and report throughput and latency')
    .requiredOption('--address <host:port>', 'server address (gRPC or REST port, as --protocol says)')
    .requiredOption('--model <name>', 'model name')
    .option('--model-version <n>', 'model version (default: latest)')
    .addOption(new Option('--protocol <protocol>', 'wire protocol').choices(BENCH_PROTOCOLS).default('grpc'))
    .option('--concurrency <list>', 'requests in flight, one level per value', '1,2,4,8,16')
    .option('--duration <time>', 'measured time per level (10s, 500ms, 2m)', '10s')
    .option('--warmup <time>', 'time before each level that is not measured', '2s')
    .option('--images <dir|file>', 'JPEG/PNG file, or a folder of them sent round-robin (default: the sample photo)')
    .option('--batch <n>', 'images per request', '1')
    .option('--timeout <time>', 'deadline of one request', '30s')
    .option('--metrics-url <url|none>', "the server's Prometheus page, for its queue/preprocess/inference split (default: /metrics on the address for REST protocols, none for gRPC)")
    .option('--chart <file.svg>', 'write throughput and p99 latency vs concurrency as an SVG chart')
    .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
    .action((flags: BenchFlags) => benchAction(flags));
}

export async function benchAction(flags: BenchFlags): Promise<void> {
  const format = parseOutputFormat(flags.output);
  const concurrency = parseConcurrency(flags.concurrency);
  const durationMs = parseDuration('--duration', flags.duration);
  const warmupMs = parseDuration('--warmup', flags.warmup, true);
  const timeoutMs = parseDuration('--timeout', flags.timeout);
  const batch = parsePositiveInt('--batch', flags.batch);
  let metricsUrl = resolveMetricsUrl(flags.metricsUrl, flags.protocol, flags.address);
  if (metricsUrl) {
    try {
      await scrape(metricsUrl);
    } catch (err) {
      if (flags.metricsUrl !== undefined) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--metrics-url: ${(err as Error).message}` });
      process.stderr.write(`bench: ${(err as Error).message}; reporting client-side times only\n`);
      metricsUrl = undefined;
    }
  }
  const { images, source } = await loadImages(flags.images);

  const run = await runBench({
    client: { protocol: flags.protocol, address: flags.address, model: flags.model, version: flags.modelVersion, timeoutMs },
    images,
    batch,
    concurrency,
    warmupMs,
    durationMs,
    metricsUrl,
    log: progressLogger(),
  });
  const report: BenchReport = {
    model: flags.model,
    version: flags.modelVersion ?? null,
    protocol: flags.protocol,
    address: flags.address,
    batch,
    warmupS: warmupMs / 1000,
    durationS: durationMs / 1000,
    imageSource: source,
    metricsUrl: metricsUrl ?? null,
    chart: flags.chart ?? null,
    levels: run.levels,
    errorMessages: run.errorMessages,
  };
  if (flags.chart) {
    const title = `accel bench: ${flags.model} over ${flags.protocol}, batch ${batch}`;
    const points = run.levels.map((l) => ({ concurrency: l.concurrency, imagesPerSec: l.imagesPerSec, p99Ms: l.latencyMs?.p99 ?? null }));
    await writeFile(flags.chart, renderChart({ title, points }));
  }
  emit(format, report, () => renderReport(report));

  const ok = run.levels.reduce((n, l) => n + l.ok, 0);
  if (ok === 0) {
    const requests = run.levels.reduce((n, l) => n + l.requests, 0);
    const [status, message] = Object.entries(run.errorMessages)[0] ?? ['UNKNOWN', 'no request was sent'];
    throw new EveryRequestFailed(status, `every request failed (${requests} requests): ${status}: ${message}`);
  }
}

const ms = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2));

export function errorSummary(errors: Record<string, number>): string {
  const entries = Object.entries(errors).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? '0' : entries.map(([status, n]) => `${n} ${status}`).join(', ');
}

export function renderReport(r: BenchReport): string {
  const head =
    `${r.model}${r.version ? `:${r.version}` : ''} over ${r.protocol} at ${r.address}, batch ${r.batch}, ` +
    `${r.durationS} s per level after ${r.warmupS} s warm-up, images: ${r.imageSource}`;
  const table = renderTable(
    ['CONCURRENCY', 'REQUESTS', 'IMAGES/S', 'P50 MS', 'P90 MS', 'P99 MS', 'MAX MS', 'ERRORS', 'QUEUE MS', 'PREPROCESS MS', 'INFERENCE MS'],
    r.levels.map((l) => [
      l.concurrency,
      l.requests,
      l.imagesPerSec.toFixed(1),
      ms(l.latencyMs?.p50),
      ms(l.latencyMs?.p90),
      ms(l.latencyMs?.p99),
      ms(l.latencyMs?.max),
      errorSummary(l.errors),
      ms(l.server?.queueMs),
      ms(l.server?.preprocessMs),
      ms(l.server?.inferenceMs),
    ]),
  );
  const notes = Object.entries(r.errorMessages).map(([status, message]) => `${status}: ${message}`);
  if (!r.metricsUrl) notes.push("(server split: give --metrics-url http://HOST:REST_PORT/metrics for the server's queue, preprocess and inference times)");
  if (r.chart) notes.push(`chart: ${r.chart}`);
  return [head, table, ...notes].join('\n');
}

/** Progress on stderr: one rewritten line on a terminal, otherwise a line a second and one per level. */
function progressLogger(): (e: BenchEvent) => void {
  const tty = process.stderr.isTTY;
  let last = 0;
  let lastPhase = '';
  return (e) => {
    if (e.type === 'warning') {
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}bench: ${e.message}\n`);
      return;
    }
    if (e.type === 'level') {
      const l = e.result;
      const p = l.latencyMs;
      const line = `bench: concurrency ${l.concurrency}: ${l.imagesPerSec.toFixed(1)} images/s, p50 ${ms(p?.p50)} ms, p99 ${ms(p?.p99)} ms, errors ${errorSummary(l.errors)}`;
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
      return;
    }
    const { progress: p } = e;
    const what = p.phase === 'warmup' ? 'warm-up' : 'measuring';
    const line =
      `bench: level ${e.level}/${e.levels}, concurrency ${e.concurrency}: ${what} ${(p.elapsedMs / 1000).toFixed(1)}/${(p.totalMs / 1000).toFixed(1)} s, ` +
      `${p.requests} requests, ${p.failed} failed`;
    const now = performance.now();
    const key = `${e.level}:${p.phase}`;
    if (tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (key !== lastPhase || now - last >= 1000) {
      process.stderr.write(`${line}\n`);
      last = now;
      lastPhase = key;
    }
  };
}
