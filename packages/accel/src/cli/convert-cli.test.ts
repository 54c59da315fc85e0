import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensor } from '../onnx/graph';
import { runTfjsGraph } from '../convert/reference';
import { randomFloats, smallTfCnn, writeTfjsGraphModel } from '../test-util/convert';
import { Workspace } from '../workspace/workspace';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'accel.js');
let root: string;
let wsDir: string;

function accel(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--workspace', wsDir], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-convert-cli-'));
  wsDir = join(root, 'ws');
  expect(spawnSync(process.execPath, [BIN, 'workspace', 'init', wsDir]).status).toBe(0);
  const cnn = smallTfCnn();
  await writeTfjsGraphModel(cnn.graph, join(root, 'tiny-tf'));
  expect(accel(['model', 'register', join(root, 'tiny-tf'), '--name', 'tiny-tf', '--tag', 'task=classify']).code).toBe(0);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('accel convert', () => {
  it('converts a registered TF.js graph model as a job, streams its log and registers the ONNX model linked to its source', async () => {
    const r = accel(['convert', 'tiny-tf', '--input-tensors', 'input_1:0', '--output-tensors', 'model/predictions/Softmax:0', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    for (const stage of ['parsing', 'mapping', 'validated', 'optimized', 'verified', 'registered']) expect(r.stderr).toContain(stage);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ state: 'succeeded', model: 'tiny-tf-onnx:1', name: 'tiny-tf-onnx', version: 1, source: 'tiny-tf:1' });
    expect(out.maxRelError).toBeLessThan(1e-4);

    const ws = await Workspace.open(wsDir);
    try {
      const m = await ws.getModel('tiny-tf-onnx');
      expect(m.tags).toMatchObject({ format: 'onnx', task: 'classify' });
      expect(m.properties).toMatchObject({ source: 'tiny-tf:1', inputs: 'input_1:0', outputs: 'model/predictions/Softmax:0' });
      const lineage = await ws.lineage('tiny-tf-onnx');
      expect(JSON.stringify(lineage)).toContain('tiny-tf:1');
      const dir = await ws.downloadModel('tiny-tf-onnx', 1, join(root, 'out'));
      const sidecar = JSON.parse(readFileSync(join(dir, 'model.accel.json'), 'utf8'));
      expect(sidecar.conversion.source).toBe('tiny-tf:1');
      // The converted model keeps the TensorFlow tensor names and computes what TensorFlow computes.
      const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
      expect(session.inputNames).toEqual(['input_1:0']);
      expect(session.outputNames).toEqual(['model/predictions/Softmax:0']);
      const x = randomFloats(2 * 32 * 32 * 3, 99);
      const got = await session.run({ 'input_1:0': new ort.Tensor('float32', x, [2, 32, 32, 3]) });
      const want = await runTfjsGraph(smallTfCnn().graph, { 'input_1:0': tensor('float32', [2, 32, 32, 3], x) }, ['model/predictions/Softmax:0']);
      const g = got['model/predictions/Softmax:0']!.data as Float32Array;
      const w = want['model/predictions/Softmax:0']!.data;
      expect(g.length).toBe(10);
      for (let k = 0; k < g.length; k++) expect(Math.abs(g[k]! - w[k]!)).toBeLessThan(1e-5);
      await session.release();
    } finally {
      await ws.close();
    }
  });

  it('takes the tensor names from the file when not given, and --no-wait returns a job id to follow', () => {
    const r = accel(['convert', 'tiny-tf', '--name', 'tiny-again', '--no-wait', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const { job } = JSON.parse(r.stdout);
    expect(job).toMatch(/^convert-/);
    const w = accel(['job', 'wait', job, '--show-output', '-o', 'json']);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).toContain('from input_1:0 to model/predictions/Softmax:0');
    expect(JSON.parse(w.stdout).outputs).toMatchObject({ model: 'tiny-again:1' });
  });

  it('keeps --preprocess and --labels with the converted model for the server and clients', async () => {
    writeFileSync(join(root, 'labels.txt'), 'a\nb\nc\nd\ne\n');
    const r = accel(['convert', 'tiny-tf', '--name', 'tiny-pre', '--preprocess', 'scale=0.00392156862745098', '--preprocess', 'mean=0', '--preprocess', 'std=1', '--preprocess', 'resize=stretch', '--labels', join(root, 'labels.txt'), '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/preprocessing: NHWC 32x32 RGB, stretch/);
    const ws = await Workspace.open(wsDir);
    try {
      const dir = await ws.downloadModel('tiny-pre', 1, join(root, 'pre'));
      const sidecar = JSON.parse(readFileSync(join(dir, 'model.accel.json'), 'utf8'));
      expect(sidecar.preprocess).toMatchObject({ width: 32, height: 32, layout: 'NHWC', resize: 'stretch', mean: [0, 0, 0], std: [1, 1, 1] });
      expect(sidecar.labels).toEqual(['a', 'b', 'c', 'd', 'e']);
    } finally {
      await ws.close();
    }
    const bad = accel(['convert', 'tiny-tf', '--name', 'tiny-bad', '--preprocess', 'resize=sideways']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/"resize" must be one of crop, stretch/);
  });

  it('fails the job naming the unknown tensor and registers nothing', () => {
    const r = accel(['convert', 'tiny-tf', '--name', 'never', '--output-tensors', 'Softmax:0', '-o', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Tensor "Softmax:0" is not in the graph. Similar node names: model\/predictions\/Softmax/);
    expect(JSON.parse(r.stdout).state).toBe('failed');
    expect(accel(['model', 'show', 'never']).code).not.toBe(0);
  });

  it('lists every unsupported op with its count in the failed job', async () => {
    const graph = smallTfCnn().graph;
    for (const n of graph.nodes) if (n.op === 'Relu' || n.op === 'Softmax') n.op = n.op === 'Relu' ? 'MadeUpRelu' : 'MadeUpSoftmax';
    await writeTfjsGraphModel(graph, join(root, 'odd'));
    expect(accel(['model', 'register', join(root, 'odd'), '--name', 'odd']).code).toBe(0);
    const r = accel(['convert', 'odd']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/2 op type\(s\) the converter does not support: MadeUpRelu \(1\), MadeUpSoftmax \(1\)/);
  });

  it('refuses a file that is no TensorFlow model with a clear error', () => {
    writeFileSync(join(root, 'junk.pb'), 'not a graph');
    expect(accel(['model', 'register', join(root, 'junk.pb'), '--name', 'junk']).code).toBe(0);
    const r = accel(['convert', 'junk', '--input-tensors', 'x:0', '--output-tensors', 'y:0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Cannot read .*junk\.pb/);
  });
});
