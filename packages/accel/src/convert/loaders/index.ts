import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { AccelError } from '../../errors';
import type { TfGraph } from '../tf/graph';
import { readGraphDef } from './graphdef';
import { loadSavedModel, readSavedModelBytes } from './saved-model';
import { readModelJsonFiles, readTfjsGraphModel, type TfjsModelJson } from './tfjs-graph';
import { readTfjsLayersModel } from './tfjs-layers';

const ANY = 'TensorFlow model';

function bad(file: string, format: string, reason: string, cause?: unknown): AccelError {
  return new AccelError('ACCEL_ERR_CONVERT_BAD_MODEL', { file, format, reason }, { cause });
}

/**
 * SavedModel bytes start with field 1 (varint schema version) or 2 (meta graphs); a GraphDef
 * with field 1 (its nodes). Try the likelier reading first and the other when it fails.
 */
function readPb(bytes: Uint8Array, file: string): TfGraph {
  const asGraphDef = () => readGraphDef(bytes, file);
  const variables = path.join(path.dirname(file), 'variables');
  const asSavedModel = () => readSavedModelBytes(bytes, file, existsSync(variables) ? variables : undefined);
  const [first, second] = bytes[0] === 0x08 || bytes[0] === 0x12 ? [asSavedModel, asGraphDef] : [asGraphDef, asSavedModel];
  try {
    return first();
  } catch (err) {
    try {
      return second();
    } catch {
      throw err;
    }
  }
}

function isGraphModel(json: TfjsModelJson): boolean {
  return json.format === 'graph-model' || (json.format === undefined && Array.isArray(json.modelTopology?.node));
}

function isLayersModel(json: TfjsModelJson): boolean {
  const topo = json.modelTopology ?? {};
  return json.format === 'layers-model' || (json.format === undefined && ('model_config' in topo || 'class_name' in topo));
}

async function loadModelJson(file: string): Promise<TfGraph> {
  const { json, weights } = await readModelJsonFiles(file);
  if (isGraphModel(json)) return readTfjsGraphModel(json, weights, file);
  if (!isLayersModel(json)) {
    throw bad(file, 'TensorFlow.js model', `its format is "${json.format ?? 'not given'}" and its topology is neither a graph (node list) nor a Keras model; expected a TF.js graph-model or layers-model`);
  }
  try {
    return readTfjsLayersModel(json, weights);
  } catch (err) {
    if (err instanceof AccelError) throw err;
    throw bad(file, 'TensorFlow.js layers model', (err as Error).message, err);
  }
}

/**
 * Reads a TensorFlow model in whichever form it comes: a frozen GraphDef `.pb`, a SavedModel
 * (its folder or `saved_model.pb`), or a TF.js graph or layers model (its `model.json` or the
 * folder holding it). Unreadable input fails with ACCEL_ERR_CONVERT_BAD_MODEL.
 *
 * @example
 * const graph = await loadTfModel('models/emotion.json');
 * const onnx = mapGraph(graph, { inputs: graph.signature!.inputs, outputs: graph.signature!.outputs });
 */
export async function loadTfModel(p: string): Promise<TfGraph> {
  const info = await stat(p).catch(() => undefined);
  if (!info) throw bad(p, ANY, 'no such file or folder');
  if (info.isDirectory()) {
    if (existsSync(path.join(p, 'saved_model.pb'))) return loadSavedModel(p);
    if (existsSync(path.join(p, 'model.json'))) return loadModelJson(path.join(p, 'model.json'));
    throw bad(p, ANY, 'the folder holds neither saved_model.pb (a SavedModel) nor model.json (a TF.js model)');
  }
  if (p.endsWith('.json')) return loadModelJson(p);
  if (p.endsWith('.pb')) return readPb(await readFile(p), p);
  throw bad(p, ANY, 'expected a .pb file (frozen GraphDef or saved_model.pb), a model.json, or a folder holding either');
}
