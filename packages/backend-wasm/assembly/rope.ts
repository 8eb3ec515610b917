import { madd } from "./simd";

/**
 * Rotates tokens [tokenStart, tokenEnd) of x in place with cos/sin table rows (f32, attention scale
 * folded in). rows[t] is the table row of token t = b·seq + s. Offsets are in elements.
 * sign = −1 and mul = 1/scale² give the inverse rotation.
 */
export function ropeApply(
  x: usize,
  seq: i32,
  heads: i32,
  strideBatch: i32,
  strideSeq: i32,
  strideHead: i32,
  rows: usize,
  cos: usize,
  sin: usize,
  half: i32,
  interleaved: bool,
  sign: f32,
  mul: f32,
  tokenStart: i32,
  tokenEnd: i32,
): void {
  const vSign = f32x4.splat(sign);
  const vMul = f32x4.splat(mul);
  // Interleaved pairs (2i, 2i+1): out = x·[c c] + swap(x)·[−s s].
  const alternate = f32x4(-1.0, 1.0, -1.0, 1.0);
  for (let t = tokenStart; t < tokenEnd; t++) {
    const b = t / seq;
    const s = t - b * seq;
    const row = load<i32>(rows + ((<usize>t) << 2));
    const c0 = cos + ((<usize>(row * half)) << 2);
    const s0 = sin + ((<usize>(row * half)) << 2);
    const tokenBase = x + ((<usize>(b * strideBatch + s * strideSeq)) << 2);
    for (let h = 0; h < heads; h++) {
      const o = tokenBase + ((<usize>(h * strideHead)) << 2);
      let i = 0;
      if (!interleaved) {
        for (; i + 4 <= half; i += 4) {
          const pa = o + ((<usize>i) << 2);
          const pb = pa + ((<usize>half) << 2);
          const a = v128.load(pa);
          const bb = v128.load(pb);
          const c = v128.load(c0 + ((<usize>i) << 2));
          const sn = f32x4.mul(v128.load(s0 + ((<usize>i) << 2)), vSign);
          v128.store(pa, f32x4.mul(f32x4.sub(f32x4.mul(a, c), f32x4.mul(bb, sn)), vMul));
          v128.store(pb, f32x4.mul(madd(a, sn, f32x4.mul(bb, c)), vMul));
        }
        for (; i < half; i++) {
          const pa = o + ((<usize>i) << 2);
          const pb = pa + ((<usize>half) << 2);
          const a = load<f32>(pa);
          const bb = load<f32>(pb);
          const c = load<f32>(c0 + ((<usize>i) << 2));
          const sn = load<f32>(s0 + ((<usize>i) << 2)) * sign;
          store<f32>(pa, (a * c - bb * sn) * mul);
          store<f32>(pb, (bb * c + a * sn) * mul);
        }
      } else {
        for (; i + 2 <= half; i += 2) {
          // two pairs per vector: [a0 b0 a1 b1]
          const p = o + ((<usize>(2 * i)) << 2);
          const xv = v128.load(p);
          const c2 = v128.load64_zero(c0 + ((<usize>i) << 2));
          const s2 = f32x4.mul(v128.load64_zero(s0 + ((<usize>i) << 2)), vSign);
          const cc = f32x4.shuffle(c2, c2, 0, 0, 1, 1);
          const ss = f32x4.mul(f32x4.shuffle(s2, s2, 0, 0, 1, 1), alternate);
          const swapped = f32x4.shuffle(xv, xv, 1, 0, 3, 2);
          v128.store(p, f32x4.mul(madd(swapped, ss, f32x4.mul(xv, cc)), vMul));
        }
        for (; i < half; i++) {
          const pa = o + ((<usize>(2 * i)) << 2);
          const a = load<f32>(pa);
          const bb = load<f32>(pa + 4);
          const c = load<f32>(c0 + ((<usize>i) << 2));
          const sn = load<f32>(s0 + ((<usize>i) << 2)) * sign;
          store<f32>(pa, (a * c - bb * sn) * mul);
          store<f32>(pa + 4, (bb * c + a * sn) * mul);
        }
      }
    }
  }
}

/** out[t·dim + c] += table[rows[t]·dim + c] for tokens [tokenStart, tokenEnd) (learned and sinusoidal encodings). */
export function addRows(
  out: usize,
  table: usize,
  rows: usize,
  dim: i32,
  tokenStart: i32,
  tokenEnd: i32,
): void {
  for (let t = tokenStart; t < tokenEnd; t++) {
    const o = out + ((<usize>(t * dim)) << 2);
    const r = table + ((<usize>(load<i32>(rows + ((<usize>t) << 2)) * dim)) << 2);
    let c = 0;
    for (; c + 4 <= dim; c += 4) {
      const p = o + ((<usize>c) << 2);
      v128.store(p, f32x4.add(v128.load(p), v128.load(r + ((<usize>c) << 2))));
    }
    for (; c < dim; c++) {
      const p = o + ((<usize>c) << 2);
      store<f32>(p, load<f32>(p) + load<f32>(r + ((<usize>c) << 2)));
    }
  }
}
