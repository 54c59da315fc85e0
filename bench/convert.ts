/**
 * Converter benchmark (`npm run bench:convert`, part of `npm run bench`): converts each real
 * trained network of the fixture packages (TF.js graph and layers models from the npm
 * registry), and reports conversion time, the error against TF.js, and batch-1 latency of
 * the converted model in ONNX Runtime vs the TF.js reference (WebAssembly backend) measured in
 * the same run. Writes bench/out/convert.json. `BENCH_CONVERT_MODELS=a,b` picks models.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SAMPLE_PHOTO } from '../packages/accel/src/assets';
import { convertGraph } from '../packages/accel/src/convert/convert';
import { loadTfModel } from '../packages/accel/src/convert/loaders/index';
import { HUMAN_MODELS, NSFWJS_MODELS, realModel } from '../packages/accel/src/test-util/real-models';

const HERE = dirname(fileURLToPath(import.meta.url));
const wanted = process.env.BENCH_CONVERT_MODELS?.split(',').map((s) => s.trim());
const models = wanted ?? [...NSFWJS_MODELS, ...HUMAN_MODELS];

interface Row { model: string; kind: string; nodes: number; weightsMB: number; convertS: number; onnxMs: number; tfjsMs: number; maxRel: number; top1: number | null; onnxNodes: number; transposes: number; status: string }
const rows: Row[] = [];
for (const name of models) {
  process.stderr.write(`${name} ...\n`);
  const { modelJson, kind } = realModel(name);
  const row: Row = { model: name, kind, nodes: 0, weightsMB: 0, convertS: 0, onnxMs: NaN, tfjsMs: NaN, maxRel: NaN, top1: null, onnxNodes: 0, transposes: 0, status: 'ok' };
  try {
    const t0 = performance.now();
    const graph = await loadTfModel(modelJson);
    row.nodes = graph.nodes.length;
    row.weightsMB = [...graph.consts.values()].reduce((a, t) => a + (Array.isArray(t.data) ? 0 : t.data.byteLength), 0) / 1e6;
    const result = await convertGraph(graph, { verify: false });
    row.convertS = (performance.now() - t0) / 1000;
    row.onnxNodes = result.validation.nodes;
    row.transposes = result.validation.ops.find(([op]) => op === 'Transpose')?.[1] ?? 0;
    const checked = await convertGraph(graph, { photos: [SAMPLE_PHOTO], samples: 4, tolerance: Infinity });
    const v = checked.verification!;
    row.onnxMs = v.onnxMs;
    row.tfjsMs = v.referenceMs;
    row.maxRel = v.worstRel;
    const agreements = v.outputs.map((o) => o.top1Agreement).filter((a): a is number => a !== null);
    row.top1 = agreements.length ? Math.min(...agreements) : null;
  } catch (err) {
    row.status = (err as Error).message.replace(/\s+/g, ' ').slice(0, 160);
  }
  rows.push(row);
  process.stderr.write(`  ${row.status === 'ok' ? `converted in ${row.convertS.toFixed(2)} s, max rel error ${row.maxRel.toExponential(1)}` : row.status}\n`);
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
console.log(`\nreal trained networks: conversion and batch-1 latency, ONNX Runtime vs TF.js (wasm), 2 cores`);
console.log('| model | kind | TF nodes | weights MB | convert s | ONNX nodes | Transposes | max rel error | top-1 agree | ORT ms | TF.js ms | TF.js / ORT |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  if (r.status !== 'ok') {
    console.log(`| ${r.model} | ${r.kind} | ${r.nodes} | ${f(r.weightsMB)} | not converted: ${r.status} |||||||| `);
    continue;
  }
  console.log(`| ${r.model} | ${r.kind} | ${r.nodes} | ${f(r.weightsMB)} | ${f(r.convertS, 2)} | ${r.onnxNodes} | ${r.transposes} | ${r.maxRel.toExponential(1)} | ${r.top1 === null ? '-' : `${(r.top1 * 100).toFixed(0)}%`} | ${f(r.onnxMs)} | ${f(r.tfjsMs)} | ${f(r.tfjsMs / r.onnxMs, 2)}x |`);
}
const ok = rows.filter((r) => r.status === 'ok');
console.log(`\n${ok.length}/${rows.length} converted; ${ok.filter((r) => r.maxRel <= 1e-4).length} within 1e-4 relative error`);
const biggest = ok.sort((a, b) => b.weightsMB - a.weightsMB)[0];
if (biggest) console.log(`largest: ${biggest.model}, ${f(biggest.weightsMB)} MB of weights converted in ${f(biggest.convertS, 2)} s (${f(biggest.weightsMB / biggest.convertS)} MB/s)`);
mkdirSync(join(HERE, 'out'), { recursive: true });
writeFileSync(join(HERE, 'out', 'convert.json'), `${JSON.stringify(rows, null, 2)}\n`);

