import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ensurePhotoSet, photoSetDir, type PhotoSet } from './photo-set';

/**
 * The calibration/evaluation photo set built from Debian packages (first run downloads ~180 MB
 * with apt-get and writes ~500 JPEGs into .cache/photos; later runs reuse it).
 */
describe('photo set', () => {
  let set: PhotoSet;

  it('builds (or reuses) the set with enough images in each split', { timeout: 15 * 60_000 }, async () => {
    set = await ensurePhotoSet({ log: (line) => console.log(line) });
    expect(set.count.calibration).toBeGreaterThanOrEqual(80);
    expect(set.count.evaluation).toBeGreaterThanOrEqual(300);
    expect(readdirSync(set.calibration).filter((f) => f.endsWith('.jpg'))).toHaveLength(set.count.calibration);
    expect(readdirSync(set.evaluation).filter((f) => f.endsWith('.jpg'))).toHaveLength(set.count.evaluation);
  });

  it('never uses one source photo in both splits', () => {
    const cal = new Set(set.sources.calibration);
    expect(set.sources.evaluation.filter((s) => cal.has(s))).toEqual([]);
    const prefixes = (dir: string) => new Set(readdirSync(dir).map((f) => f.replace(/-\d+\.jpg$/, '')));
    const calFiles = prefixes(set.calibration);
    const evalFiles = prefixes(set.evaluation);
    expect([...calFiles].sort()).toEqual([...set.sources.calibration].sort());
    expect([...evalFiles].sort()).toEqual([...set.sources.evaluation].sort());
    expect([...calFiles].filter((p) => evalFiles.has(p))).toEqual([]);
  });

  it('holds only 8-bit 3-channel JPEGs no larger than 640 px', { timeout: 5 * 60_000 }, async () => {
    for (const dir of [set.calibration, set.evaluation]) {
      for (const f of readdirSync(dir)) {
        const img = sharp(path.join(dir, f));
        const meta = await img.metadata();
        expect({ f, format: meta.format, channels: meta.channels, depth: meta.depth, space: meta.space }).toEqual({ f, format: 'jpeg', channels: 3, depth: 'uchar', space: 'srgb' });
        expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBeLessThanOrEqual(640);
        const { info } = await img.raw().toBuffer({ resolveWithObject: true });
        expect(info.channels).toBe(3);
      }
    }
  });

  it('returns the cached set quickly on a second call', async () => {
    const manifest = readFileSync(path.join(photoSetDir(), 'manifest.json'), 'utf8');
    const started = performance.now();
    const again = await ensurePhotoSet();
    expect(performance.now() - started).toBeLessThan(500);
    expect(again).toEqual(set);
    expect(readFileSync(path.join(photoSetDir(), 'manifest.json'), 'utf8')).toBe(manifest);
  });
});
