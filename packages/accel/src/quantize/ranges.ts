import type { CalibrationMethod } from './types';

/** Running statistics of one tensor over the calibration images. */
export class TensorStats {
  min = Infinity;
  max = -Infinity;
  /** Histogram of |x| over [0, absMax] (second pass, for `percentile` and `entropy`). */
  hist: Float64Array | undefined;
  absMax = 0;

  observeRange(data: Float32Array): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
  }

  startHistogram(bins: number): void {
    this.absMax = Math.max(Math.abs(this.min), Math.abs(this.max));
    this.hist = new Float64Array(bins);
  }

  observeHistogram(data: Float32Array): void {
    const hist = this.hist!;
    if (this.absMax === 0) {
      hist[0]! += data.length;
      return;
    }
    const k = hist.length / this.absMax;
    const last = hist.length - 1;
    for (let i = 0; i < data.length; i++) {
      const b = Math.floor(Math.abs(data[i]!) * k);
      hist[b > last ? last : b]!++;
    }
  }
}

export const HISTOGRAM_BINS = 2048;

/**
 * The float range [lo, hi] a tensor is quantized over. `minmax` keeps everything seen;
 * `percentile` clips |x| at the given percentile of the histogram; `entropy` picks the clip
 * threshold whose quantized distribution is closest (KL divergence) to the observed one.
 */
export function chooseRange(s: TensorStats, method: CalibrationMethod, percentile = 99.999): [number, number] {
  if (!Number.isFinite(s.min) || !Number.isFinite(s.max)) return [0, 0];
  if (method === 'minmax' || !s.hist || s.absMax === 0) return [s.min, s.max];
  const threshold = method === 'percentile' ? percentileThreshold(s.hist, s.absMax, percentile) : entropyThreshold(s.hist, s.absMax, s.min >= 0 ? 256 : 128);
  return [Math.max(s.min, -threshold), Math.min(s.max, threshold)];
}

function percentileThreshold(hist: Float64Array, absMax: number, percentile: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  const target = (total * percentile) / 100;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= target) return ((i + 1) / hist.length) * absMax;
  }
  return absMax;
}

/**
 * TensorRT-style entropy calibration: for each candidate threshold (bin i), the reference
 * distribution is the histogram clipped at i (outliers added to the last bin); the candidate
 * merges those i bins into `levels` buckets and spreads each back over its non-empty bins.
 * The threshold with the smallest KL(reference || candidate) wins.
 */
function entropyThreshold(hist: Float64Array, absMax: number, levels: number): number {
  const n = hist.length;
  let best = n;
  let bestKl = Infinity;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  let tail = 0;
  for (let i = levels; i < n; i++) tail += hist[i]!;
  for (let i = levels; i <= n; i++) {
    // p: hist[0..i) with everything beyond folded into bin i-1
    for (let j = 0; j < i; j++) p[j] = hist[j]!;
    p[i - 1]! += tail;
    if (i < n) tail -= hist[i]!;
    const width = i / levels;
    for (let b = 0; b < levels; b++) {
      const start = Math.floor(b * width);
      const end = b === levels - 1 ? i : Math.floor((b + 1) * width);
      let sum = 0;
      let nonzero = 0;
      for (let j = start; j < end; j++) {
        sum += hist[j]!;
        if (hist[j]! > 0) nonzero++;
      }
      for (let j = start; j < end; j++) q[j] = hist[j]! > 0 ? sum / nonzero : 0;
    }
    const kl = divergence(p, q, i);
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return (best / n) * absMax;
}

function divergence(p: Float64Array, q: Float64Array, len: number): number {
  let ps = 0;
  let qs = 0;
  for (let j = 0; j < len; j++) {
    ps += p[j]!;
    qs += q[j]!;
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let j = 0; j < len; j++) {
    const pj = p[j]! / ps;
    if (pj === 0) continue;
    const qj = q[j]! / qs;
    kl += qj > 0 ? pj * Math.log(pj / qj) : pj * 20; // an empty candidate bin under mass: heavy penalty
  }
  return kl;
}

/** uint8 asymmetric parameters covering [lo, hi] (always containing 0, so padding and ReLU zeros are exact). */
export function uint8Params(lo: number, hi: number): { scale: number; zeroPoint: number } {
  const a = Math.min(lo, 0);
  const b = Math.max(hi, 0);
  const scale = b - a > 0 ? (b - a) / 255 : 1;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-a / scale)));
  return { scale, zeroPoint };
}
