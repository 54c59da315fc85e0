import { resolve } from 'node:path';
import { AccelError } from '../errors';
import type { AgreementReport } from '../quantize/report';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../quantize/types';
import { checkName, parseModelRef } from '../workspace/names';
import { runJobCommand } from './job';
import { collect, withWorkspace, workspaceCommand, type CommonFlags } from './common';

interface QuantizeFlags extends CommonFlags {
  calibration: string;
  evaluation?: string;
  method: string;
  perChannel: boolean;
  exclude: string[];
  name?: string;
  limit?: string;
  wait: boolean;
}

function method(value: string): CalibrationMethod {
  if (!CALIBRATION_METHODS.includes(value as CalibrationMethod)) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `--method must be one of ${CALIBRATION_METHODS.join(', ')}, got "${value}"` });
  }
  return value as CalibrationMethod;
}

function limit(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--limit must be a positive integer, got "${value}"` });
  return n;
}

function reportRows(out: Record<string, unknown>): string[][] {
  const r = out.report as AgreementReport;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const latency = (batch: string, l: AgreementReport['latency']['batch1'] | null) =>
    l ? [[`latency batch ${batch}`, `${l.fp32Ms.toFixed(2)} ms fp32, ${l.int8Ms.toFixed(2)} ms int8 (x${l.ratio.toFixed(2)})`]] : [];
  return [
    ['model', String(out.model)], ['name', String(out.name)], ['version', String(out.version)], ['created', String(out.createdAt)],
    ['digest', String(out.digest)], ['source', String(out.source)], ['evaluated on', String(out.evaluation)],
    ['top-1 agreement', pct(r.top1Agreement)], [`top-${Math.min(5, r.classes)} agreement`, pct(r.top5Agreement)],
    ['prob. abs diff', `mean ${r.meanAbsDiff.toExponential(2)}, max ${r.maxAbsDiff.toExponential(2)}`],
    ...latency('1', r.latency.batch1), ...latency('8', r.latency.batch8),
  ];
}

/** `accel quantize`: a registered ONNX model -> an int8 model calibrated with images, as a job. */
export function quantizeCommand() {
  return workspaceCommand('quantize', 'Quantize a registered ONNX image model to int8 with calibration images, compare it with the float model and register it, as a workspace job')
    .argument('<model>', 'NAME[:VERSION] of the registered ONNX model (a converted model or a .onnx file)')
    .requiredOption('--calibration <dir>', 'folder of JPEG/PNG images like the ones the model will see (a few hundred)')
    .option('--evaluation <dir>', 'held-out images for the agreement report (default: every 5th calibration image, then not used to calibrate)')
    .option('--method <method>', `how activation ranges are chosen: ${CALIBRATION_METHODS.join(', ')} (default: percentile, |x| clipped at its 99.999th percentile)`, 'percentile')
    .option('--per-channel', 'one weight scale per output channel', true)
    .option('--no-per-channel', 'one weight scale per weight tensor')
    .option('--exclude <node>', 'ONNX node name to keep in float (repeatable)', collect, [])
    .option('--name <name>', 'name of the quantized model (default: <model>-int8)')
    .option('--limit <n>', 'read at most N images from each folder (sorted order)')
    .option('--no-wait', 'print the job id and return; follow with `accel job wait ID --show-output`')
    .action(async (ref: string, flags: QuantizeFlags) => {
      const { name, version } = parseModelRef(ref);
      const inputs = {
        model: name,
        ...(version === undefined ? {} : { version }),
        calibration: resolve(flags.calibration),
        ...(flags.evaluation ? { evaluation: resolve(flags.evaluation) } : {}),
        method: method(flags.method),
        perChannel: flags.perChannel,
        ...(flags.exclude.length ? { exclude: flags.exclude } : {}),
        ...(flags.name ? { name: checkName('Model', flags.name) } : {}),
        ...(flags.limit === undefined ? {} : { limit: limit(flags.limit) }),
      };
      const code = await withWorkspace(flags, async (ws, format) => {
        await ws.getModel(name, version);
        const { listImageFiles } = await import('../quantize/images');
        await listImageFiles(inputs.calibration);
        if (inputs.evaluation) await listImageFiles(inputs.evaluation);
        return runJobCommand(ws, format, 'quantize', inputs, flags.wait, reportRows);
      });
      process.exitCode = code;
    });
}
