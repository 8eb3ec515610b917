import { DTYPE_BF16, DTYPE_F16, DTYPE_F32 } from "../src/attention-layout";
import { elementAt, loadF32, loadQuad, storeF32, storeQuad } from "./half";
import { madd } from "./simd";

/**
 * Rotates tokens [tokenStart, tokenEnd) of x in place with cos/sin table rows (f32, attention scale
 * folded in). rows[t] is the table row of token t = b·seq + s. Offsets are in elements of x's dtype
 * (DTYPE_*): float16 / bfloat16 x is read as f32 four values at a time, rotated in f32 and written back
 * rounded to nearest even. sign = −1 and mul = 1/scale² give the inverse rotation.
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
  dtype: i32,
): void {
  // One branch per call: each dtype has its own loops.
  if (dtype == DTYPE_F32) {
    ropeF32(x, seq, heads, strideBatch, strideSeq, strideHead, rows, cos, sin, half, interleaved, sign, mul, tokenStart, tokenEnd);
  } else if (dtype == DTYPE_F16) {
    ropeHalf(x, seq, heads, strideBatch, strideSeq, strideHead, rows, cos, sin, half, interleaved, sign, mul, tokenStart, tokenEnd, DTYPE_F16);
  } else {
    ropeHalf(x, seq, heads, strideBatch, strideSeq, strideHead, rows, cos, sin, half, interleaved, sign, mul, tokenStart, tokenEnd, DTYPE_BF16);
  }
}

/** ropeApply on f32 x. */
function ropeF32(
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

/**
 * ropeApply on half x (`dtype` a constant at each call, so the conversions are specialised): the f32
 * loops with four values loaded by loadQuad (exact) and stored by storeQuad (rounded to nearest even).
 */
// @ts-ignore: decorator
@inline
function ropeHalf(
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
  dtype: i32,
): void {
  const vSign = f32x4.splat(sign);
  const vMul = f32x4.splat(mul);
  const alternate = f32x4(-1.0, 1.0, -1.0, 1.0);
  for (let t = tokenStart; t < tokenEnd; t++) {
    const b = t / seq;
    const s = t - b * seq;
    const row = load<i32>(rows + ((<usize>t) << 2));
    const c0 = cos + ((<usize>(row * half)) << 2);
    const s0 = sin + ((<usize>(row * half)) << 2);
    const tokenBase = elementAt(x, b * strideBatch + s * strideSeq, dtype);
    for (let h = 0; h < heads; h++) {
      const o = elementAt(tokenBase, h * strideHead, dtype);
      let i = 0;
      if (!interleaved) {
        for (; i + 4 <= half; i += 4) {
          const pa = elementAt(o, i, dtype);
          const pb = elementAt(pa, half, dtype);
          const a = loadQuad(pa, dtype);
          const bb = loadQuad(pb, dtype);
          const c = v128.load(c0 + ((<usize>i) << 2));
          const sn = f32x4.mul(v128.load(s0 + ((<usize>i) << 2)), vSign);
          storeQuad(pa, f32x4.mul(f32x4.sub(f32x4.mul(a, c), f32x4.mul(bb, sn)), vMul), dtype);
          storeQuad(pb, f32x4.mul(madd(a, sn, f32x4.mul(bb, c)), vMul), dtype);
        }
        for (; i < half; i++) {
          const a = loadF32(o, i, dtype);
          const bb = loadF32(o, i + half, dtype);
          const c = load<f32>(c0 + ((<usize>i) << 2));
          const sn = load<f32>(s0 + ((<usize>i) << 2)) * sign;
          storeF32(o, i, (a * c - bb * sn) * mul, dtype);
          storeF32(o, i + half, (bb * c + a * sn) * mul, dtype);
        }
      } else {
        for (; i + 2 <= half; i += 2) {
          const p = elementAt(o, 2 * i, dtype);
          const xv = loadQuad(p, dtype);
          const c2 = v128.load64_zero(c0 + ((<usize>i) << 2));
          const s2 = f32x4.mul(v128.load64_zero(s0 + ((<usize>i) << 2)), vSign);
          const cc = f32x4.shuffle(c2, c2, 0, 0, 1, 1);
          const ss = f32x4.mul(f32x4.shuffle(s2, s2, 0, 0, 1, 1), alternate);
          const swapped = f32x4.shuffle(xv, xv, 1, 0, 3, 2);
          storeQuad(p, f32x4.mul(madd(swapped, ss, f32x4.mul(xv, cc)), vMul), dtype);
        }
        for (; i < half; i++) {
          const a = loadF32(o, 2 * i, dtype);
          const bb = loadF32(o, 2 * i + 1, dtype);
          const c = load<f32>(c0 + ((<usize>i) << 2));
          const sn = load<f32>(s0 + ((<usize>i) << 2)) * sign;
          storeF32(o, 2 * i, (a * c - bb * sn) * mul, dtype);
          storeF32(o, 2 * i + 1, (bb * c + a * sn) * mul, dtype);
        }
      }
    }
  }
}

/**
 * out[t·dim + c] += table[rows[t]·dim + c] for tokens [tokenStart, tokenEnd) (learned and sinusoidal
 * encodings). out and table are each of their own dtype (DTYPE_*): halves are read as f32, summed in f32
 * and a half out is written rounded to nearest even.
 */
export function addRows(
  out: usize,
  table: usize,
  rows: usize,
  dim: i32,
  tokenStart: i32,
  tokenEnd: i32,
  outDtype: i32,
  tableDtype: i32,
): void {
  if (outDtype == DTYPE_F32) {
    if (tableDtype == DTYPE_F32) addRowsF32(out, table, rows, dim, tokenStart, tokenEnd);
    else if (tableDtype == DTYPE_F16) addRowsWith(out, table, rows, dim, tokenStart, tokenEnd, DTYPE_F32, DTYPE_F16);
    else addRowsWith(out, table, rows, dim, tokenStart, tokenEnd, DTYPE_F32, DTYPE_BF16);
  } else if (outDtype == DTYPE_F16) {
    if (tableDtype == DTYPE_F32) addRowsWith(out, table, rows, dim, tokenStart, tokenEnd, DTYPE_F16, DTYPE_F32);
    else if (tableDtype == DTYPE_F16) addRowsWith(out, table, rows, dim, tokenStart, tokenEnd, DTYPE_F16, DTYPE_F16);
    else addRowsWith(out, table, rows, dim, tokenStart, tokenEnd, DTYPE_F16, DTYPE_BF16);
  } else {
    if (tableDtype == DTYPE_F32) addRowsWith(out, table, rows, dim, tokenStart, tokenEnd, DTYPE_BF16, DTYPE_F32);
    else if (tableDtype == DTYPE_F16) addRowsWith(out, table, rows, dim, tokenStart, tokenEnd, DTYPE_BF16, DTYPE_F16);
    else addRowsWith(out, table, rows, dim, tokenStart, tokenEnd, DTYPE_BF16, DTYPE_BF16);
  }
}

/** addRows with a half out or table (dtypes constant at each call): four values at a time, in f32. */
// @ts-ignore: decorator
@inline
function addRowsWith(
  out: usize,
  table: usize,
  rows: usize,
  dim: i32,
  tokenStart: i32,
  tokenEnd: i32,
  outDtype: i32,
  tableDtype: i32,
): void {
  for (let t = tokenStart; t < tokenEnd; t++) {
    const o = elementAt(out, t * dim, outDtype);
    const r = elementAt(table, load<i32>(rows + ((<usize>t) << 2)) * dim, tableDtype);
    let c = 0;
    for (; c + 4 <= dim; c += 4) {
      const p = elementAt(o, c, outDtype);
      storeQuad(p, f32x4.add(loadQuad(p, outDtype), loadQuad(elementAt(r, c, tableDtype), tableDtype)), outDtype);
    }
    for (; c < dim; c++) storeF32(o, c, loadF32(o, c, outDtype) + loadF32(r, c, tableDtype), outDtype);
  }
}

/** addRows on f32 out and table. */
function addRowsF32(
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
