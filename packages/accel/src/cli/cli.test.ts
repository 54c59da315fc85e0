import { spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier } from '../test-util/models';
import { samplePhoto } from '../test-util/server';
import { spawnServe } from '../test-util/processes';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'accel.js');
const files = modelDir();

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const serve = spawnServe;

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

let imagePath: string;
beforeAll(async () => {
  imagePath = files.write('photo.jpg', await samplePhoto());
});
afterAll(() => files.cleanup());

describe('accel CLI', () => {
  it('has --help, -o and exit code 0 on every command', async () => {
    const top = run(['--help']);
    expect(top.code).toBe(0);
    const { buildProgram } = await import('./main');
    const leaves: { path: string[]; help: string }[] = [];
    const walk = (c: import('commander').Command, path: string[]) => {
      if (c.commands.length === 0) leaves.push({ path, help: c.helpInformation() });
      // Hidden commands are internal (e.g. `service supervise`, run by `accel deploy`).
      for (const sub of c.commands) if (!(sub as unknown as { _hidden?: boolean })._hidden) walk(sub, [...path, sub.name()]);
    };
    walk(buildProgram(), []);
    expect(leaves.map((l) => l.path.join(' '))).toEqual(expect.arrayContaining(['serve', 'predict', 'model register', 'job wait', 'compute create', 'usage', 'workspace verify', 'quantize']));
    // Every command's help, built in process (one process per command took a minute on a busy machine)...
    for (const { path, help } of leaves) expect(help, path.join(' ')).toMatch(/-o, --output <([^>]*\|)?format>/);
    // ...and, for a few, as a user runs it: printed on stdout with exit code 0.
    for (const path of [['serve'], ['model', 'register'], ['quantize'], ['service', 'list']]) {
      const help = run([...path, '--help']);
      expect(help.code, path.join(' ')).toBe(0);
      expect(help.stdout, path.join(' ')).toMatch(/-o, --output <([^>]*\|)?format>/);
    }
  });

  it('exits 2 on usage errors', () => {
    expect(run(['serve', '--bogus']).code).toBe(2);
    expect(run(['serve']).code).toBe(2);
    const badModel = run(['serve', '--model', 'no-equals-sign']);
    expect(badModel.code).toBe(2);
    expect(badModel.stderr).toMatch(/--model must look like NAME=PATH\[:VERSION\]/);
    const asJson = run(['serve', '--model', 'x', '-o', 'json']);
    expect(asJson.code).toBe(2);
    expect(JSON.parse(asJson.stderr).error.code).toBe('ACCEL_ERR_USAGE');
  });

  it('exits 1 naming the file and the reason when a model does not load', () => {
    const broken = files.write('broken.onnx', 'garbage');
    const r = run(['serve', '--model', `broken=${broken}`, '--grpc-port', '0', '--rest-port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Could not load model "broken" version 1 from .*broken.onnx/);
  });

  it('serves a model, prints the spec it uses, scores with predict, and stops cleanly on SIGTERM', async () => {
    const model = files.write('tiny.onnx', tinyClassifier({ size: 16 }));
    const { child, summary, stderr } = await serve(['--model', `tiny=${model}`, '--mean', '0.5', '--std', '0.25']);
    try {
      expect(summary.models[0]).toMatchObject({ name: 'tiny', version: 1 });
      expect(summary.models[0]!.preprocess!.input).toMatchObject({ width: 16, height: 16, layout: 'NCHW', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
      expect(stderr()).toMatch(/"msg":"loaded tiny v1; preprocessing input: NCHW 16x16 RGB, crop 0.875/);
      const address = summary.grpc;
      const json = run(['predict', '--address', address, '--labels', 'none', '--top', '3', '-o', 'json', imagePath]);
      expect(json.code).toBe(0);
      const out = JSON.parse(json.stdout);
      expect(out.top).toHaveLength(3);
      expect(out.top[0].probability).toBeGreaterThanOrEqual(out.top[1].probability);
      const rest = run(['predict', '--address', summary.rest, '--protocol', 'rest', '--model', 'tiny', '--labels', 'none', '--top', '3', '-o', 'json', imagePath]);
      expect(JSON.parse(rest.stdout).top).toEqual(out.top);
      const table = run(['predict', '--address', address, '--labels', 'none', imagePath]);
      expect(table.stdout).toMatch(/^RANK\s+CLASS\s+LABEL\s+CONFIDENCE/);
      expect(table.stdout).toMatch(/^1 +(\d) +\1 +\d+\.\d\d%$/m);
      const labels = files.write('labels.txt', 'ant\nbee\ncat\ndog\nelk\n');
      const named = JSON.parse(run(['predict', '--address', address, '--labels', labels, '--top', '5', '-o', 'json', imagePath]).stdout);
      expect(named.top.map((t: { index: number; label: string }) => t.label)).toEqual(named.top.map((t: { index: number }) => ['ant', 'bee', 'cat', 'dog', 'elk'][t.index]));
      const missing = run(['predict', '--address', address, '--model', 'nope', imagePath]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/Model "nope" is not served here/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
    expect(stderr()).toMatch(/"msg":"stopped"/);
  });
});
