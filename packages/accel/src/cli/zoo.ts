import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { AccelError } from '../errors';
import { describePreprocessSpec } from '../preprocess/spec';
import { defaultWorkspaceDir } from '../workspace/workspace';
import { emit, parseOutputFormat, renderTable } from './output';
import { progressPrinter } from './common';

/** `-o` takes a format (table|json|yaml) or, for `zoo build`, the model file to write (`-o model.onnx`). */
function splitOutput(value: string | undefined): { format: string; file?: string } {
  if (value && /\.onnx$/i.test(value)) return { format: 'table', file: value };
  return { format: value ?? 'table' };
}

const weightsCache = () => join(defaultWorkspaceDir(), 'zoo');

/** Weights files pulled or imported for a model: `<cache>/<name>/<sha256>/<file>`. */
function cachedWeights(name: string): string[] {
  const dir = join(weightsCache(), name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => /^[0-9a-f]{64}$/.test(d))
    .flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f)));
}

export function zooCommand(): Command {
  const zoo = new Command('zoo').description('The model zoo: ResNet-50/152, DenseNet-121, VGG-16, SSD-VGG built as ONNX with named tensors');

  zoo.addCommand(
    new Command('list')
      .description('Models with input size, parameters, compute, output tensors and preprocessing')
      .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
      .action(async (flags: { output: string }) => {
        const format = parseOutputFormat(flags.output);
        const { ARCHITECTURES } = await import('../zoo/catalog');
        const { outputNames } = await import('../zoo/build');
        const { quantizedTitle } = await import('../zoo/quantized');
        const rows = ARCHITECTURES.map((a) => ({
          name: a.name,
          title: a.title,
          kind: a.kind,
          input: `${a.preprocess.height}x${a.preprocess.width}`,
          parameters: a.publishedParameters,
          gmacs: a.publishedGmacs,
          outputs: a.kind === 'classifier' ? outputNames(a) : ['12 raw tensors (boxes and class scores at 6 scales)'],
          preprocess: describePreprocessSpec(a.preprocess),
          quantizedVariant: quantizedTitle(a),
          pretrainedWeights: 'none published yet (see README)',
          cachedWeights: cachedWeights(a.name),
        }));
        emit(format, rows, () =>
          renderTable(
            ['NAME', 'INT8 VARIANT', 'INPUT', 'PARAMS', 'GMACS', 'OUTPUTS', 'PREPROCESSING', 'WEIGHTS CACHED'],
            rows.map((r) => [r.name, r.quantizedVariant, r.input, `${(r.parameters / 1e6).toFixed(1)} M`, r.gmacs, r.outputs.join(' '), r.preprocess, r.cachedWeights.length ? r.cachedWeights.join(' ') : 'no']),
          ),
        );
      }),
  );

  zoo.addCommand(
    new Command('build')
      .description('Write a zoo model as ONNX (plus its preprocessing sidecar), e.g. `accel zoo build resnet50 --weights random -o resnet50.onnx`')
      .argument('<name>', 'zoo model name (see `accel zoo list`)')
      .option('--weights <random|FILE>', 'weights: an ONNX file of initializers named as torchvision state_dicts, or random (speed tests only)')
      .option('--classifier <imagenet|none|FILE.onnx>', 'head: the ImageNet classifier, none (features out), or your ONNX classifier on the features', 'imagenet')
      .option('--quantized', 'int8 variant (QuantizedResnet50, ...): QDQ model calibrated on --calibration images')
      .option('--calibration <dir>', 'images to calibrate the int8 variant on (default: 8 variants of the sample photo, enough for random weights)')
      .option('--method <method>', 'calibration method of the int8 variant: minmax, entropy, percentile', 'percentile')
      .option('--seed <n>', 'seed of random weights', '1')
      .option('-o, --output <FILE.onnx|format>', 'the model file to write (FILE.onnx), or the report format: table, json, yaml')
      .option('--out <file>', 'the model file to write (same as -o FILE.onnx)')
      .action(async (name: string, flags: { weights?: string; classifier: string; quantized?: boolean; calibration?: string; method: string; seed: string; output?: string; out?: string }) => {
        const { format: fmt, file: fromO } = splitOutput(flags.output);
        const format = parseOutputFormat(fmt);
        const file = flags.out ?? fromO;
        if (!file) throw new AccelError('ACCEL_ERR_USAGE', { reason: 'say where to write the model: -o FILE.onnx (or --out FILE)' });
        const { CALIBRATION_METHODS } = await import('../quantize/types');
        const method = CALIBRATION_METHODS.find((m) => m === flags.method);
        if (!method) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--method must be one of ${CALIBRATION_METHODS.join(', ')}, got "${flags.method}"` });
        if (flags.calibration && !flags.quantized) throw new AccelError('ACCEL_ERR_USAGE', { reason: '--calibration applies to --quantized builds' });
        if (!flags.weights) {
          throw new AccelError('ACCEL_ERR_USAGE', {
            reason: `no pretrained ${name} weights are published yet: pass --weights FILE (an ONNX file of torchvision-named initializers) or --weights random (speed tests only)`,
          });
        }
        const [{ architecture }, { buildZooModel }, { readWeightsFile }, { readFile }] = await Promise.all([
          import('../zoo/catalog'),
          import('../zoo/build'),
          import('../zoo/weights-file'),
          import('node:fs/promises'),
        ]);
        const arch = architecture(name);
        const weights = flags.weights === 'random' ? undefined : await readWeightsFile(flags.weights);
        const classifier = flags.classifier === 'imagenet' || flags.classifier === 'none' ? flags.classifier : { onnx: await readFile(flags.classifier) };
        process.stderr.write(`building ${arch.title} (${weights ? 'weights from ' + flags.weights : 'random weights'}) ...\n`);
        const built = buildZooModel(arch, { weights, classifier, seed: Number(flags.seed) });
        let out = { bytes: built.bytes, name: built.name, sidecar: built.sidecar as Record<string, unknown>, floatNodes: undefined as { name: string; op: string; reason: string }[] | undefined };
        if (flags.quantized) {
          const { quantizeZooModel, quantizedTitle } = await import('../zoo/quantized');
          process.stderr.write(`quantizing to ${quantizedTitle(arch)} (${method}, calibration: ${flags.calibration ?? 'sample photo variants'}) ...\n`);
          const q = await quantizeZooModel(arch, built, { calibration: flags.calibration, method, log: (line) => process.stderr.write(`${line}\n`) });
          out = { bytes: q.bytes, name: q.name, sidecar: q.sidecar, floatNodes: q.result.float };
        }
        const path = resolve(file);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, out.bytes);
        const sidecar = path.replace(/\.onnx$/i, '') + '.accel.json';
        writeFileSync(sidecar, JSON.stringify(out.sidecar, null, 2) + '\n');
        const report = { name: out.name, path, sidecar, bytes: out.bytes.length, parameters: built.parameters, input: built.inputName, outputs: built.outputNames, ...(out.floatNodes ? { quantized: true, floatNodes: out.floatNodes } : {}) };
        emit(format, report, () =>
          [`wrote ${out.name} to ${path} (${(out.bytes.length / 1e6).toFixed(1)} MB, ${built.parameters} parameters) and ${sidecar}`, `input  ${built.inputName}`, ...built.outputNames.map((o) => `output ${o}`), ...(out.floatNodes ? [`left in float: ${out.floatNodes.map((n) => `${n.name} (${n.op})`).join(', ') || 'nothing'}`] : [])].join('\n'),
        );
      }),
  );

  zoo.addCommand(
    new Command('pull')
      .description('Download weights (resumable, verified against a sha256 pin) into the weights cache')
      .argument('<name>', 'zoo model name')
      .requiredOption('--url <url>', 'where the weights file is (the catalogue publishes no pinned source yet)')
      .requiredOption('--sha256 <hex>', 'the pin: sha256 of the weights file')
      .option('--cache <dir>', 'weights cache', weightsCache())
      .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
      .action(async (name: string, flags: { url: string; sha256: string; cache: string; output: string }) => {
        const format = parseOutputFormat(flags.output);
        const [{ architecture }, { pullWeights }] = await Promise.all([import('../zoo/catalog'), import('../zoo/weights')]);
        architecture(name);
        const file = flags.url.split('/').pop() || `${name}.onnx`;
        const r = await pullWeights({ file, sha256: flags.sha256.toLowerCase(), url: flags.url }, join(flags.cache, name), { onProgress: progressPrinter(`pulling ${file}`) });
        emit(format, r, () => `${r.cached ? 'already cached' : 'pulled'}: ${r.path} (${r.size} bytes, sha256 ${r.sha256})`);
      }),
  );

  zoo.addCommand(
    new Command('import')
      .description('Put a local weights file into the cache, verified against a sha256 pin (machines with no internet)')
      .argument('<name>', 'zoo model name')
      .argument('<file>', 'weights file')
      .requiredOption('--sha256 <hex>', 'the pin: sha256 of the weights file')
      .option('--cache <dir>', 'weights cache', weightsCache())
      .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
      .action(async (name: string, file: string, flags: { sha256: string; cache: string; output: string }) => {
        const format = parseOutputFormat(flags.output);
        if (!existsSync(file)) throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read ${file}: ENOENT` });
        const [{ architecture }, { importWeights }] = await Promise.all([import('../zoo/catalog'), import('../zoo/weights')]);
        architecture(name);
        const r = await importWeights({ file: file.split('/').pop()!, sha256: flags.sha256.toLowerCase() }, file, join(flags.cache, name));
        emit(format, r, () => `imported: ${r.path} (${r.size} bytes, sha256 ${r.sha256})`);
      }),
  );
  return zoo;
}
