import { readFileSync } from 'node:fs';
import { AccelError } from '../errors';
import { parseModelRef } from '../workspace/names';
import { runJobCommand } from './job';
import { collect, withWorkspace, workspaceCommand, type CommonFlags } from './common';

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

interface ConvertFlags extends CommonFlags {
  inputTensors?: string[];
  outputTensors?: string[];
  name?: string;
  wait: boolean;
  verify: boolean;
  tolerance?: number;
  preprocess: string[];
  labels?: string;
}

/** `--preprocess scale=0.0039 --preprocess mean=[0.5,0.5,0.5]`: values parsed as JSON when they are JSON. */
function preprocessFields(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--preprocess takes KEY=VALUE, got "${pair}"` });
    const raw = pair.slice(i + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string such as NHWC or stretch
    }
    out[pair.slice(0, i)] = value;
  }
  return out;
}

function readLabels(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  } catch (err) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read --labels ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
  }
}

/** `accel convert`: a TensorFlow model in the workspace -> an optimized ONNX model, as a job. */
export function convertCommand() {
  return workspaceCommand('convert', 'Convert a registered TensorFlow model (frozen GraphDef .pb, SavedModel, TF.js graph or layers model) to optimized ONNX, as a workspace job')
    .argument('<model>', 'NAME[:VERSION] of the registered TensorFlow model')
    .option('--input-tensors <names>', 'input tensors, comma-separated (node:0); default: the file\'s signature', list)
    .option('--output-tensors <names>', 'output tensors, comma-separated; default: the file\'s signature', list)
    .option('--name <name>', 'name of the converted model (default: <model>-onnx)')
    .option('--tolerance <rel>', 'largest accepted relative error against TF.js (default 1e-4)', parseFloat)
    .option('--no-verify', 'skip the check against TF.js')
    .option('--preprocess <key=value>', 'preprocessing the server applies to JPEG/PNG input (repeatable): width, height, layout, channelOrder, resize (crop|stretch), cropFraction, scale, mean, std', collect, [])
    .option('--labels <file>', 'class names of the output, one per line, kept with the model for clients')
    .option('--no-wait', 'print the job id and return; follow with `accel job wait ID --show-output`')
    .action(async (ref: string, flags: ConvertFlags) => {
      const { name, version } = parseModelRef(ref);
      const code = await withWorkspace(flags, async (ws, format) => {
        await ws.getModel(name, version);
        const inputs = {
          model: name,
          ...(version === undefined ? {} : { version }),
          ...(flags.inputTensors ? { inputTensors: flags.inputTensors } : {}),
          ...(flags.outputTensors ? { outputTensors: flags.outputTensors } : {}),
          ...(flags.name ? { name: flags.name } : {}),
          ...(flags.tolerance === undefined ? {} : { tolerance: flags.tolerance }),
          verify: flags.verify,
          ...(flags.preprocess.length ? { preprocess: preprocessFields(flags.preprocess) } : {}),
          ...(flags.labels ? { labels: readLabels(flags.labels) } : {}),
        };
        return runJobCommand(ws, format, 'convert', inputs, flags.wait, (out) => [
          ['model', String(out.model)], ['name', String(out.name)], ['version', String(out.version)], ['created', String(out.createdAt)], ['digest', String(out.digest)], ['source', String(out.source)],
          ['max rel error', out.maxRelError === null ? 'not verified' : Number(out.maxRelError).toExponential(2)],
        ]);
      });
      process.exitCode = code;
    });
}
