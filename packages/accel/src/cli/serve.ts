import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  DEFAULT_MAX_CONCURRENT_STREAMS,
  DEFAULT_MAX_IMAGE_PIXELS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_REQUEST_BATCH,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from '../defaults';
import { AccelError } from '../errors';
import { describePreprocessSpec } from '../preprocess/spec';
import type { ModelSource } from '../runtime/runtime';
import type { Servable } from '../runtime/servable';
import type { ExecutionProvider } from '../runtime/session-options';
import { shapeString } from '../runtime/tensor';
import { emit, parseOutputFormat, renderTable } from './output';

const usage = (reason: string) => new AccelError('ACCEL_ERR_USAGE', { reason });

/** `name=path[:version]` */
export function parseModelFlag(value: string): ModelSource {
  const m = /^([^=]+)=(.+?)(?::(\d+))?$/.exec(value);
  if (!m) throw usage(`--model must look like NAME=PATH[:VERSION], got "${value}"`);
  return { name: m[1], path: m[2], version: m[3] === undefined ? undefined : Number(m[3]) };
}

function int(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw usage(`${flag} must be a non-negative integer, got "${v}"`);
    return n;
  };
}

function positive(flag: string) {
  return (v: string) => {
    const n = int(flag)(v);
    if (n < 1) throw usage(`${flag} must be at least 1, got "${v}"`);
    return n;
  };
}

function numbers(flag: string) {
  return (v: string) => {
    const xs = v.split(',').map(Number);
    if (!(xs.length === 1 || xs.length === 3) || xs.some((x) => !Number.isFinite(x))) throw usage(`${flag} takes 1 or 3 comma-separated numbers, got "${v}"`);
    return xs.length === 1 ? xs[0] : xs;
  };
}

interface ServeFlags {
  model: ModelSource[];
  modelConfigFile?: string;
  default?: string;
  host: string;
  grpcPort: number;
  restPort: number;
  maxMessageBytes: number;
  maxImagePixels: number;
  maxRequestBatch: number;
  requestTimeoutMs: number;
  maxConcurrentStreams: number;
  threads?: number;
  executionProvider: ExecutionProvider;
  allowPartial?: boolean;
  maxBatchSize?: number;
  maxQueueDelayUs?: number;
  preferredBatchSizes?: number[];
  maxQueue?: number;
  gracePeriod: number;
  logLevel: string;
  imageSize?: string;
  layout?: string;
  channelOrder?: string;
  resize?: string;
  cropFraction?: number;
  scale?: number;
  mean?: number | number[];
  std?: number | number[];
  output: string;
  apiKey?: string[];
  apiKeysFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  metricsAuth?: boolean;
}

function readTlsFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw usage(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function tlsFiles(o: ServeFlags) {
  if (o.tlsCa && !(o.tlsCert && o.tlsKey)) throw usage('--tls-ca (client certificates) needs TLS: give --tls-cert and --tls-key too');
  if (!o.tlsCert && !o.tlsKey) return undefined;
  if (!o.tlsCert || !o.tlsKey) throw usage('--tls-cert and --tls-key go together: give both, or neither for plain text');
  const ca = o.tlsCa ? { ca: readTlsFile('--tls-ca', o.tlsCa), caFile: o.tlsCa } : {};
  return { cert: readTlsFile('--tls-cert', o.tlsCert), key: readTlsFile('--tls-key', o.tlsKey), certFile: o.tlsCert, keyFile: o.tlsKey, ...ca };
}

const SECURITY_HELP = `
Security:
  With --api-key or --api-keys-file, every gRPC call (TF Serving and KServe) and every REST
  request needs a key, sent as "authorization: Bearer KEY" (HTTP header or gRPC metadata; the
  bare key is accepted too). Others get UNAUTHENTICATED / 401. Left open: /healthz, /readyz,
  /v2/health/live, /v2/health/ready, KServe ServerLive/ServerReady (probes send no key) and
  /metrics (Prometheus scrapes without one; --metrics-auth makes it need a key too).
  --api-keys-file is a JSON object of key names to keys, e.g.
    {"primary": "9f2c...", "secondary": "41ab..."}
  (an empty value is an unused slot); a value "sha256:<64 hex digits>" is the SHA-256 of a key
  (what accel deploy writes), so the file need not hold the key itself. It is re-read when it changes (folder watch, a stat every
  2 s, and SIGHUP), so keys rotate without a restart; a file that turns unreadable or invalid
  keeps the last good keys and logs an error. Prefer the file: --api-key values show in "ps".
  --tls-cert/--tls-key (PEM) switch both ports to TLS (gRPC over TLS, REST over https).
  --tls-ca (PEM CA bundle) adds mutual TLS: a client without a certificate signed by one of
  these CAs fails the handshake, on every route (health included). Development certificates:
  accel certs create --client.`;

function preprocessOverrides(o: ServeFlags): Record<string, unknown> {
  const patch: Record<string, unknown> = {
    layout: o.layout,
    channelOrder: o.channelOrder,
    resize: o.resize,
    cropFraction: o.cropFraction,
    scale: o.scale,
    mean: o.mean,
    std: o.std,
  };
  if (o.imageSize) {
    const m = /^(\d+)(?:x(\d+))?$/.exec(o.imageSize);
    if (!m) throw usage(`--image-size must be HEIGHTxWIDTH or SIZE, got "${o.imageSize}"`);
    patch.height = Number(m[1]);
    patch.width = Number(m[2] ?? m[1]);
  }
  return patch;
}

function describe(s: Servable) {
  return {
    name: s.name,
    version: s.version,
    path: s.config.path,
    inputs: s.signature.inputs.map((t) => ({ alias: t.alias, tensor: t.tensorName, dtype: t.dtype, shape: t.shape })),
    outputs: s.signature.outputs.map((t) => ({ alias: t.alias, tensor: t.tensorName, dtype: t.dtype, shape: t.shape })),
    preprocess: s.preprocessSpecs,
    batching: s.batching,
  };
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('Serve ONNX models over the TensorFlow Serving gRPC and REST APIs')
    .requiredOption('--model <name=path[:version]>', 'a model version to serve (repeatable; versions default to 1, 2, ... in order)', (v, acc: ModelSource[]) => [...acc, parseModelFlag(v)], [])
    .option('--model-config-file <file>', 'more model versions, from a JSON file re-read on SIGHUP to load new versions and unload old ones without a restart: {"models": [{"name": "m", "path": "m2.onnx", "version": 2}]}')
    .option('--default <name>', 'model that answers requests naming none (default: the only model)')
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--grpc-port <port>', 'gRPC port (0: any free port)', int('--grpc-port'), 8500)
    .option('--rest-port <port>', 'REST port (0: any free port)', int('--rest-port'), 8501)
    .option('--max-message-bytes <n>', 'largest request or response, both protocols', int('--max-message-bytes'), DEFAULT_MAX_MESSAGE_BYTES)
    .option('--max-image-pixels <n>', 'largest decoded image (refuses decompression bombs)', int('--max-image-pixels'), DEFAULT_MAX_IMAGE_PIXELS)
    .option('--max-request-batch <n>', 'most rows (images) one request may hold; more is INVALID_ARGUMENT / 400', positive('--max-request-batch'), DEFAULT_MAX_REQUEST_BATCH)
    .option('--request-timeout-ms <ms>', 'a request still running after this long gets DEADLINE_EXCEEDED / 504 (0: no limit)', int('--request-timeout-ms'), DEFAULT_REQUEST_TIMEOUT_MS)
    .option('--max-concurrent-streams <n>', 'most gRPC calls in flight per connection (HTTP/2 streams)', positive('--max-concurrent-streams'), DEFAULT_MAX_CONCURRENT_STREAMS)
    .option('--threads <n>', 'intra-op threads per model (default: all cores)', int('--threads'))
    .addOption(new Option('--execution-provider <ep>', 'ONNX Runtime execution provider').choices(['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu']).default('auto'))
    .option('--allow-partial', 'serve the models that load when others fail')
    .option('--max-batch-size <n>', 'dynamic batching: most rows per ONNX Runtime run; 1 turns batching off (default 8)', int('--max-batch-size'))
    .option('--max-queue-delay-us <n>', 'dynamic batching: how long a request may wait for others on an idle model (default 0)', int('--max-queue-delay-us'))
    .option('--preferred-batch-sizes <list>', 'dynamic batching: sizes to aim for, e.g. 4,8', (v: string) => v.split(',').map((x) => int('--preferred-batch-sizes')(x)))
    .option('--max-queue <n>', 'requests allowed to wait per model before RESOURCE_EXHAUSTED / 429 (default 256)', int('--max-queue'))
    .option('--grace-period <ms>', 'on SIGTERM, time in-flight requests get to finish', int('--grace-period'), 10_000)
    .option('--log-level <level>', 'log level of the JSON logs on stderr', 'info')
    .option('--image-size <HxW>', 'preprocessing: input height x width (overrides the model spec)')
    .addOption(new Option('--layout <layout>', 'preprocessing: tensor layout').choices(['NCHW', 'NHWC']))
    .addOption(new Option('--channel-order <order>', 'preprocessing: channel order').choices(['RGB', 'BGR']))
    .addOption(new Option('--resize <mode>', 'preprocessing: centre crop or stretch').choices(['crop', 'stretch']))
    .option('--crop-fraction <f>', 'preprocessing: central fraction kept by crop (0.875)', parseFloat)
    .option('--scale <s>', 'preprocessing: factor on 0..255 pixel values before mean/std', parseFloat)
    .option('--mean <m>', 'preprocessing: mean, one value or R,G,B', numbers('--mean'))
    .option('--std <s>', 'preprocessing: std, one value or R,G,B', numbers('--std'))
    .option('--api-key <key>', 'accept this API key (repeatable); see Security below', (v: string, acc: string[] = []) => [...acc, v])
    .option('--api-keys-file <file>', 'accept the keys of this JSON file, re-read when it changes; see Security below')
    .option('--tls-cert <file>', 'PEM certificate (chain): serve gRPC and REST over TLS (needs --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-ca <file>', 'PEM CA bundle: require client certificates it signed (mutual TLS; needs --tls-cert)')
    .option('--metrics-auth', '/metrics needs an API key too (health endpoints stay open)')
    .option('-o, --output <format>', 'summary format: table, json, yaml', 'table')
    .addHelpText('after', SECURITY_HELP)
    .action(async (flags: ServeFlags) => {
      const format = parseOutputFormat(flags.output);
      const tls = tlsFiles(flags);
      const [{ destination, pino }, { Runtime }, { startServer, checkTls }, { ApiKeys }] = await Promise.all([
        import('pino'),
        import('../runtime/runtime'),
        import('../protocols/server'),
        import('../protocols/auth'),
      ]);
      if (tls) checkTls(tls); // before loading models: a bad pair fails fast
      if (flags.metricsAuth && !(flags.apiKey?.length || flags.apiKeysFile)) throw usage('--metrics-auth needs API keys: give --api-key or --api-keys-file');
      const modelConfig = flags.modelConfigFile ? await import('../runtime/model-config') : undefined;
      const fromFile = modelConfig?.readModelConfig(flags.modelConfigFile!) ?? [];
      const logger = pino({ level: flags.logLevel, base: { service: 'accel' } }, destination(2));
      const apiKeys =
        flags.apiKey?.length || flags.apiKeysFile ? await ApiKeys.open({ keys: flags.apiKey, file: flags.apiKeysFile, logger }) : undefined;
      // SIGHUP re-reads the key file now (the watch and the poll catch changes anyway).
      if (apiKeys?.file) process.on('SIGHUP', () => void apiKeys.reload('SIGHUP'));
      const patch = preprocessOverrides(flags);
      const sources = [...flags.model, ...fromFile].map((m) => ({ ...m, preprocess: patch }));
      const runtime = new Runtime({
        threads: flags.threads,
        executionProvider: flags.executionProvider,
        maxImagePixels: flags.maxImagePixels,
        maxRequestBatch: flags.maxRequestBatch,
        requestTimeoutMs: flags.requestTimeoutMs,
        allowPartial: flags.allowPartial,
        defaultModel: flags.default,
        batching: {
          maxBatchSize: flags.maxBatchSize,
          maxQueueDelayMicros: flags.maxQueueDelayUs,
          preferredBatchSizes: flags.preferredBatchSizes,
          maxQueue: flags.maxQueue,
        },
      });
      if (flags.default && !sources.some((s) => s.name === flags.default)) {
        throw usage(`--default ${flags.default} is not one of the models given (${sources.map((s) => s.name).join(', ')})`);
      }
      await runtime.load(sources, (e) => {
        if (e.kind === 'failed') {
          logger.error({ model: e.name, version: e.version, code: e.error.code }, e.error.message);
          return;
        }
        const specs = Object.entries(e.servable.preprocessSpecs).map(([input, spec]) => `${input}: ${describePreprocessSpec(spec)}`);
        logger.info(
          { model: e.servable.name, version: e.servable.version, loadMs: Math.round(e.loadMs), warmupMs: Math.round(e.warmupMs), preprocess: e.servable.preprocessSpecs },
          `loaded ${e.servable.name} v${e.servable.version}; preprocessing ${specs.join('; ') || 'none (tensor inputs only)'}; batching ${e.servable.batching.maxBatchSize > 1 ? `up to ${e.servable.batching.maxBatchSize}` : 'off'}`,
        );
      }).catch(async (err) => {
        apiKeys?.close();
        await runtime.close();
        throw err;
      });
      if (runtime.servables().length === 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: 'no model could be loaded' });
      const server = await startServer(runtime, {
        host: flags.host,
        grpcPort: flags.grpcPort,
        restPort: flags.restPort,
        maxMessageBytes: flags.maxMessageBytes,
        maxConcurrentStreams: flags.maxConcurrentStreams,
        logger,
        apiKeys,
        metricsAuth: flags.metricsAuth,
        tls,
      }).catch(async (err) => {
        apiKeys?.close();
        await runtime.close();
        throw err;
      });
      const summary = {
        grpc: `${flags.host}:${server.grpcPort}`,
        rest: `${flags.host}:${server.restPort}`,
        tls: server.tls,
        mutualTls: server.mutualTls,
        auth: apiKeys ? { keys: apiKeys.names, file: apiKeys.file ?? null, metrics: Boolean(flags.metricsAuth) } : null,
        models: runtime.servables().map(describe),
      };
      logger.info({ grpcPort: server.grpcPort, restPort: server.restPort, tls: server.tls, mutualTls: server.mutualTls, apiKeys: apiKeys?.names ?? null }, 'ready');
      if (modelConfig) {
        // SIGHUP applies the models file: new versions load, then versions no longer listed unload.
        const reload = modelConfig.modelConfigReloader(runtime, flags.modelConfigFile!, flags.model, logger, (m) => ({ ...m, preprocess: patch }));
        process.on('SIGHUP', () => void reload('SIGHUP'));
      }
      emit(format, summary, () =>
        [
          `gRPC ${summary.grpc}  REST ${summary.rest}${tls ? (tls.ca ? '  (mutual TLS)' : '  (TLS)') : ''}  API keys: ${apiKeys ? apiKeys.names.join(', ') : 'none (open)'}`,
          renderTable(
            ['MODEL', 'VERSION', 'INPUTS', 'OUTPUTS', 'PREPROCESSING'],
            summary.models.map((m) => [
              m.name,
              m.version,
              m.inputs.map((i) => `${i.alias}:${i.dtype}${shapeString(i.shape)}`).join(' '),
              m.outputs.map((o) => `${o.alias}:${o.dtype}${shapeString(o.shape)}`).join(' '),
              Object.values(m.preprocess).map(describePreprocessSpec).join('; ') || '-',
            ]),
          ),
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'shutting down: finishing in-flight requests');
          server.shutdown(flags.gracePeriod).then(() => {
            apiKeys?.close();
            logger.info('stopped');
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
