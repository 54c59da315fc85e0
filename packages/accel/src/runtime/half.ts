/** IEEE 754 binary16 (float16) conversions, shared by the protocols and the converter. */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a number, rounded to nearest even. */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  const shift = e <= 0 ? 14 - e : 13;
  if (shift > 24) return sign;
  const m = e <= 0 ? mant | 0x800000 : mant;
  let half = (e <= 0 ? 0 : e << 10) | (m >>> shift);
  const rem = m & ((1 << shift) - 1);
  const mid = 1 << (shift - 1);
  if (rem > mid || (rem === mid && half & 1)) half++;
  return sign | half;
}

export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
