import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { AccelError } from '../errors';
import { emit, parseOutputFormat, renderTable } from './output';

interface PredictFlags {
  address: string;
  model?: string;
  modelVersion?: string;
  protocol: 'grpc' | 'rest';
  input: string;
  outputName: string;
  top: string;
  labels: string;
  apiKey?: string;
  ssl?: boolean;
  timeout: string;
  output: string;
}

async function loadLabels(spec: string, classes: number): Promise<string[] | undefined> {
  if (spec === 'none') return undefined;
  if (spec === 'imagenet') {
    const { imagenetLabels } = await import('@accel/client');
    const labels = imagenetLabels();
    if (classes === labels.length) return labels;
    // Models trained with a background class put it first.
    if (classes === labels.length + 1) return ['background', ...labels];
    return undefined;
  }
  const text = await readFile(spec, 'utf8').catch((err: Error) => {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read labels file ${spec}: ${err.message}` });
  });
  return text.split('\n').filter((l, i, all) => l.length > 0 || i < all.length - 1);
}

export function predictCommand(): Command {
  return new Command('predict')
    .description('Score an image against a running server and print the top classes')
    .argument('<image>', 'JPEG or PNG file')
    .requiredOption('--address <host:port>', 'server address (gRPC 8500 or REST 8501 by default)')
    .option('--model <name>', 'model name (default: the server\'s default model)')
    .option('--model-version <n>', 'model version (default: latest)')
    .addOption(new Option('--protocol <protocol>', 'wire protocol').choices(['grpc', 'rest']).default('grpc'))
    .option('--input <alias>', 'input alias that takes the image bytes', 'images')
    .option('--output-name <alias>', 'output alias holding class probabilities', 'output_alias')
    .option('--top <k>', 'how many classes to print', '5')
    .option('--labels <imagenet|none|FILE>', 'class labels: ImageNet, none, or a file with one label per line', 'imagenet')
    .option('--api-key <key>', 'API key sent as a bearer token')
    .option('--ssl', 'use TLS')
    .option('--timeout <ms>', 'deadline of the call', '30000')
    .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
    .action(async (image: string, flags: PredictFlags) => {
      const format = parseOutputFormat(flags.output);
      const k = Number(flags.top);
      if (!Number.isInteger(k) || k < 1) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--top must be a positive integer, got "${flags.top}"` });
      const { PredictionClient, topK } = await import('@accel/client');
      const client = new PredictionClient({
        address: flags.address,
        protocol: flags.protocol,
        useSsl: flags.ssl,
        apiKey: flags.apiKey,
        modelName: flags.model,
        modelVersion: flags.modelVersion === undefined ? undefined : Number(flags.modelVersion),
        deadlineMs: Number(flags.timeout),
      });
      try {
        const started = performance.now();
        const probs = await client.scoreFile(image, { inputName: flags.input, outputs: [flags.outputName] });
        const latencyMs = performance.now() - started;
        const labels = await loadLabels(flags.labels, probs.length);
        const top = topK(probs, k, labels);
        emit(format, { image, latencyMs: Number(latencyMs.toFixed(2)), top }, () =>
          renderTable(
            ['RANK', 'CLASS', 'LABEL', 'CONFIDENCE'],
            top.map((t, i) => [i + 1, t.index, t.label, `${(t.probability * 100).toFixed(2)}%`]),
          ) + `\n(${latencyMs.toFixed(1)} ms)`,
        );
      } finally {
        client.close();
      }
    });
}
