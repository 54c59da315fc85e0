import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';

/**
 * A reproducible set of real photos for int8 calibration and for evaluating the quantized model,
 * built from images that ship in Debian packages (fetched with `apt-get download`, unpacked with
 * `dpkg-deb -x`, never installed). Calibration and evaluation images come from disjoint source
 * photos, so an evaluation never scores a model on a picture it was calibrated with.
 */

const run = promisify(execFile);

/** Bump when the sources or the generation change: a cached set of another version is rebuilt. */
const VERSION = 1;
const MIN_SOURCES = 40;
const TARGET = { calibration: 100, evaluation: 400 };
/** Longest side of the written JPEGs, and of the decoded source the variants are cut from. */
const MAX_SIDE = 640;
const WORK_SIDE = 1280;
const CONCURRENCY = 3;

type Split = 'calibration' | 'evaluation';
const SPLITS: Split[] = ['calibration', 'evaluation'];

/** The built set: its two folders of JPEGs, the source ids in each, and how many JPEGs each holds. */
export interface PhotoSet {
  calibration: string;
  evaluation: string;
  sources: { calibration: string[]; evaluation: string[] };
  count: { calibration: number; evaluation: number };
}

interface Manifest {
  version: number;
  /** Per Debian package: the .deb used and how many sources it gave, or why it failed. */
  packages: Record<string, { deb: string; sources: number } | { error: string }>;
  sources: PhotoSet['sources'];
  count: PhotoSet['count'];
}

/** Where the set is kept: `ACCEL_PHOTO_CACHE`, or `<repo>/.cache/photos`. */
export function photoSetDir(): string {
  return process.env.ACCEL_PHOTO_CACHE ?? fileURLToPath(new URL('../../../../.cache/photos', import.meta.url));
}

/** Sorted files of `dir` whose names match `re` ([] when the folder is missing). */
function list(dir: string, re: RegExp): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => path.join(dir, f)) : [];
}

const SKIMAGE = ['astronaut.png', 'chelsea.png', 'coffee.png', 'hubble_deep_field.jpg', 'ihc.png', 'motorcycle_left.png', 'retina.jpg', 'rocket.jpg'];

/** The packages and, in each unpacked tree, the photos taken from it as [base name, file]. */
const PACKAGES: { name: string; short: string; pick: (root: string) => [string, string][] }[] = [
  {
    // Colour photos only: not the greyscale textures, the synthetic colour wheel, tiny test files,
    // truncated.jpg (deliberately broken) or motorcycle_right.png (stereo twin of motorcycle_left).
    name: 'python3-skimage',
    short: 'skimage',
    pick: (root) => {
      const dir = path.join(root, 'usr/lib/python3/dist-packages/skimage/data');
      return SKIMAGE.map((f) => path.join(dir, f)).filter((f) => existsSync(f)).map((f) => [path.parse(f).name, f]);
    },
  },
  {
    name: 'mate-backgrounds',
    short: 'mate',
    pick: (root) => {
      const dir = path.join(root, 'usr/share/backgrounds/mate');
      return [...list(path.join(dir, 'nature'), /\.jpg$/i), ...list(path.join(dir, 'abstract'), /^Elephants\.jpg$/)].map((f) => [path.parse(f).name, f]);
    },
  },
  {
    name: 'ukui-wallpapers',
    short: 'ukui',
    pick: (root) => list(path.join(root, 'usr/share/backgrounds'), /\.(jpe?g|png)$/i).map((f) => [path.parse(f).name, f]),
  },
  {
    // One file per wallpaper: the images/WxH.* whose width is closest to 1920, else the screenshot.
    name: 'plasma-workspace-wallpapers',
    short: 'plasma',
    pick: (root) => {
      const out: [string, string][] = [];
      for (const wall of list(path.join(root, 'usr/share/wallpapers'), /./)) {
        const images = list(path.join(wall, 'contents/images'), /^\d+x\d+\.(jpe?g|png)$/i);
        const dist = (f: string) => Math.abs(parseInt(path.basename(f), 10) - 1920);
        const best = images.reduce<string | undefined>((a, f) => (a === undefined || dist(f) < dist(a) ? f : a), undefined);
        const file = best ?? list(path.join(wall, 'contents'), /^screenshot\.(jpe?g|png)$/i)[0];
        if (file) out.push([path.basename(wall), file]);
      }
      return out;
    },
  },
];

/** Lowercase, `[a-z0-9-]` only. */
function safe(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function mapLimit<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The package's .deb in `debs`, downloaded with `apt-get download` unless already there. */
async function fetchDeb(pkg: string, debs: string, log: (line: string) => void): Promise<string> {
  const cached = readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (cached) {
    log(`download ${pkg}: cached ${cached}`);
    return path.join(debs, cached);
  }
  // Into a private folder first, so an interrupted download never looks like a cached .deb.
  const tmp = path.join(debs, `.tmp-${pkg}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    const started = Date.now();
    await run('apt-get', ['download', pkg], { cwd: tmp, maxBuffer: 16 << 20 });
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} wrote no .deb`);
    renameSync(path.join(tmp, deb), path.join(debs, deb));
    log(`download ${pkg}: ${deb} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return path.join(debs, deb);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

interface Raw {
  data: Buffer;
  width: number;
  height: number;
  channels: 3;
}

/** A source decoded to 8-bit sRGB, alpha flattened on white, longest side <= WORK_SIDE. */
async function decode(file: string): Promise<Raw> {
  const { data, info } = await sharp(file)
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize({ width: WORK_SIDE, height: WORK_SIDE, fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: decoded to ${info.channels} channels, expected 3`);
  return { data, width: info.width, height: info.height, channels: 3 };
}

/** Rotates by `deg` and keeps the largest centred rectangle of the same aspect without blank corners. */
async function rotateInner(img: Raw, deg: number): Promise<Raw> {
  const t = (Math.abs(deg) * Math.PI) / 180;
  const s = 1 / (Math.cos(t) + Math.sin(t) * Math.max(img.width / img.height, img.height / img.width));
  const width = Math.floor(img.width * s);
  const height = Math.floor(img.height * s);
  const rotated = await sharp(img.data, { raw: img }).rotate(deg, { background: '#000000' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const left = Math.floor((rotated.info.width - width) / 2);
  const top = Math.floor((rotated.info.height - height) / 2);
  const data = await sharp(rotated.data, { raw: { width: rotated.info.width, height: rotated.info.height, channels: 3 } })
    .extract({ left, top, width, height })
    .raw()
    .toBuffer();
  return { data, width, height, channels: 3 };
}

/** The JPEG of one variant: k = 0 is the whole photo; others a random crop, flip, colour jitter, maybe a slight rotation. */
async function variant(src: Raw, k: number, rand: () => number): Promise<Buffer> {
  const jpeg = (p: sharp.Sharp) =>
    p.resize({ width: MAX_SIDE, height: MAX_SIDE, fit: 'inside', withoutEnlargement: true }).toColourspace('srgb').jpeg({ quality: 90 }).toBuffer();
  if (k === 0) return jpeg(sharp(src.data, { raw: src }));
  // Every draw is made whatever the branches, so each variant consumes the same amount of the stream.
  const [rotate, angle, area, aspect, x, y, flip, brightness, saturation, hue] = Array.from({ length: 10 }, rand);
  const img = rotate < 0.4 ? await rotateInner(src, (angle * 2 - 1) * 8) : src;
  const ratio = Math.exp((aspect * 2 - 1) * Math.log(4 / 3));
  const frac = 0.5 + 0.4 * area;
  const width = Math.max(1, Math.min(img.width, Math.round(img.width * Math.sqrt(frac * ratio))));
  const height = Math.max(1, Math.min(img.height, Math.round(img.height * Math.sqrt(frac / ratio))));
  let p = sharp(img.data, { raw: img }).extract({
    left: Math.floor(x * (img.width - width + 1)),
    top: Math.floor(y * (img.height - height + 1)),
    width,
    height,
  });
  if (flip < 0.5) p = p.flop();
  return jpeg(p.modulate({ brightness: 0.8 + 0.4 * brightness, saturation: 0.7 + 0.6 * saturation, hue: Math.round((hue * 2 - 1) * 15) }));
}

function readCached(dir: string): PhotoSet | null {
  try {
    const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    const calibration = path.join(dir, 'calibration');
    const evaluation = path.join(dir, 'evaluation');
    if (m.version !== VERSION || !existsSync(calibration) || !existsSync(evaluation)) return null;
    return { calibration, evaluation, sources: m.sources, count: m.count };
  } catch {
    return null;
  }
}

/**
 * Moves a finished build into place. The manifest is written last (by rename) and is what marks
 * the set complete, so an interrupted build or commit is simply rebuilt; if another builder
 * finished first, its (identical, deterministic) set wins and ours is dropped.
 */
function commit(dir: string, tmp: string, manifest: Manifest): void {
  if (readCached(dir)) return;
  try {
    rmSync(path.join(dir, 'manifest.json'), { force: true });
    for (const split of SPLITS) {
      rmSync(path.join(dir, split), { recursive: true, force: true });
      renameSync(path.join(tmp, split), path.join(dir, split));
    }
    writeFileSync(path.join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(path.join(tmp, 'manifest.json'), path.join(dir, 'manifest.json'));
  } catch (err) {
    if (!readCached(dir)) throw err;
  }
}

/**
 * Builds the photo set once and returns it; later calls (same VERSION) return the cached set at
 * once. Sources are sorted by id (`<package>-<name>`); every third (index % 3 === 0) goes to
 * calibration, the rest to evaluation. Each source gives ceil(100 / calibration sources) or
 * ceil(400 / evaluation sources) JPEGs `<id>-<k>.jpg` (quality 90, longest side <= 640): the whole
 * photo, then augmentations drawn from a PRNG seeded with the source's index.
 */
export async function ensurePhotoSet(opts: { log?: (line: string) => void } = {}): Promise<PhotoSet> {
  const dir = photoSetDir();
  const cached = readCached(dir);
  if (cached) return cached;
  const log = (line: string) => opts.log?.(`photo-set: ${line}`);
  const started = Date.now();
  const debs = path.join(dir, 'debs');
  mkdirSync(debs, { recursive: true });
  const tmp = path.join(dir, `.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    const packages: Manifest['packages'] = {};
    const sources: { id: string; file: string }[] = [];
    for (const pkg of PACKAGES) {
      try {
        const deb = await fetchDeb(pkg.name, debs, log);
        const root = path.join(tmp, 'extract', pkg.short);
        mkdirSync(root, { recursive: true });
        await run('dpkg-deb', ['-x', deb, root]);
        const picked = pkg.pick(root).map(([base, file]) => ({ id: `${pkg.short}-${safe(base)}`, file }));
        log(`extract ${pkg.name}: ${picked.length} source photos`);
        packages[pkg.name] = { deb: path.basename(deb), sources: picked.length };
        sources.push(...picked);
      } catch (err) {
        const lines = String((err as { stderr?: string }).stderr ?? '').trim().split('\n');
        const error = lines.filter((l) => l.startsWith('E:')).pop() ?? (lines.pop() || (err as Error).message.split('\n')[0]);
        log(`FAILED ${pkg.name}: ${error}`);
        packages[pkg.name] = { error };
      }
    }
    if (sources.length < MIN_SOURCES) {
      const failed = Object.entries(packages).filter(([, p]) => 'error' in p).map(([name, p]) => `${name} (${'error' in p ? p.error : ''})`);
      throw new Error(`photo set: only ${sources.length} source photos, need ${MIN_SOURCES}; packages that failed: ${failed.join(', ') || 'none'}`);
    }
    sources.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const split = (i: number): Split => (i % 3 === 0 ? 'calibration' : 'evaluation');
    const ids = { calibration: [] as string[], evaluation: [] as string[] };
    sources.forEach((s, i) => ids[split(i)].push(s.id));
    const per = {
      calibration: Math.ceil(TARGET.calibration / ids.calibration.length),
      evaluation: Math.ceil(TARGET.evaluation / ids.evaluation.length),
    };
    for (const s of SPLITS) log(`generate ${s}: ${ids[s].length} sources x ${per[s]} = ${ids[s].length * per[s]} JPEGs`);
    for (const s of SPLITS) mkdirSync(path.join(tmp, s));
    await mapLimit(sources, CONCURRENCY, async (source, i) => {
      const s = split(i);
      const src = await decode(source.file);
      const rand = mulberry32(0x5eed0000 + i);
      for (let k = 0; k < per[s]; k++) writeFileSync(path.join(tmp, s, `${source.id}-${k}.jpg`), await variant(src, k, rand));
    });
    const manifest: Manifest = {
      version: VERSION,
      packages,
      sources: ids,
      count: { calibration: ids.calibration.length * per.calibration, evaluation: ids.evaluation.length * per.evaluation },
    };
    rmSync(path.join(tmp, 'extract'), { recursive: true, force: true });
    commit(dir, tmp, manifest);
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${dir}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const set = readCached(dir);
  if (!set) throw new Error(`photo set: ${dir} has no valid manifest after building`);
  return set;
}
