import { DTYPE_BF16, DTYPE_F16, DTYPE_F32 } from "../src/attention-layout";
import { elementAt, f16SawSpecial, f16SpecialMax, halfQuad, loadF32, loadQuad, storeF32 } from "./half";
import { hsum, madd } from "./simd";

/**
 * y[r] = x[r]·Wᵀ + b for rows [rowStart, rowEnd); four outputs per pass over a row. bias = 0 for none.
 * x, W, b and y each have their dtype (DTYPE_*): halves are converted to f32 as they are loaded (eight at
 * a time), products are accumulated in f32, and a half y is rounded to nearest even. All f32 takes the
 * f32 loops; each pair of x and W dtypes has its own loops.
 */
export function linear(
  x: usize,
  w: usize,
  bias: usize,
  y: usize,
  n: i32,
  outFeatures: i32,
  rowStart: i32,
  rowEnd: i32,
  xDtype: i32,
  wDtype: i32,
  biasDtype: i32,
  yDtype: i32,
): void {
  if (xDtype == DTYPE_F32) {
    if (wDtype == DTYPE_F32) {
      if (biasDtype == DTYPE_F32 && yDtype == DTYPE_F32) linearF32(x, w, bias, y, n, outFeatures, rowStart, rowEnd);
      else linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_F32, DTYPE_F32, biasDtype, yDtype);
    } else if (wDtype == DTYPE_F16)
      linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_F32, DTYPE_F16, biasDtype, yDtype);
    else linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_F32, DTYPE_BF16, biasDtype, yDtype);
  } else if (xDtype == DTYPE_F16) {
    if (wDtype == DTYPE_F32)
      linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_F16, DTYPE_F32, biasDtype, yDtype);
    else if (wDtype == DTYPE_F16)
      linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_F16, DTYPE_F16, biasDtype, yDtype);
    else linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_F16, DTYPE_BF16, biasDtype, yDtype);
  } else {
    if (wDtype == DTYPE_F32)
      linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_BF16, DTYPE_F32, biasDtype, yDtype);
    else if (wDtype == DTYPE_F16)
      linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_BF16, DTYPE_F16, biasDtype, yDtype);
    else linearWith(x, w, bias, y, n, outFeatures, rowStart, rowEnd, DTYPE_BF16, DTYPE_BF16, biasDtype, yDtype);
  }
}

/**
 * Eight values of `dtype` at `p` times the two x quads, added to `acc` (the low four first, as the f32
 * loop adds them). Halves: one 16-byte load, converted by halfQuad (finite values; the caller checks
 * f16 data for ±∞ / NaN).
 */
// @ts-ignore: decorator
@inline
function dot8(acc: v128, xl: v128, xh: v128, p: usize, dtype: i32): v128 {
  if (dtype == DTYPE_F32) return madd(xh, v128.load(p, 16), madd(xl, v128.load(p), acc));
  const h = v128.load(p);
  return madd(xh, halfQuad(h, dtype, true), madd(xl, halfQuad(h, dtype, false), acc));
}

/** Folds the eight f16 values at `p` into the ±∞ / NaN check `m` (f32 / bf16: `m` as it is). */
// @ts-ignore: decorator
@inline
function watch(m: v128, p: usize, dtype: i32): v128 {
  return dtype == DTYPE_F16 ? f16SpecialMax(m, v128.load(p)) : m;
}

/** x[r]·W[o] over all n inputs, one value at a time with exact conversions (f16 rows holding ±∞ / NaN). */
function dotExact(xr: usize, wo: usize, n: i32, xDtype: i32, wDtype: i32): f32 {
  let s: f32 = 0;
  for (let i = 0; i < n; i++) s += loadF32(xr, i, xDtype) * loadF32(wo, i, wDtype);
  return s;
}

/**
 * linear with a half x, W, b or y (x and W dtypes constant at each call): the f32 loop's structure, eight
 * inputs per step. The fast f16 conversion is exact for finite values only, so f16 data is watched for
 * ±∞ / NaN (two instructions per eight values) and a group of outputs that met one is recomputed with
 * exact conversions — the result then is what IEEE arithmetic on the values gives (∞, or NaN).
 */
// @ts-ignore: decorator
@inline
function linearWith(
  x: usize,
  w: usize,
  bias: usize,
  y: usize,
  n: i32,
  outFeatures: i32,
  rowStart: i32,
  rowEnd: i32,
  xDtype: i32,
  wDtype: i32,
  biasDtype: i32,
  yDtype: i32,
): void {
  const checks = xDtype == DTYPE_F16 || wDtype == DTYPE_F16;
  for (let r = rowStart; r < rowEnd; r++) {
    const xr = elementAt(x, r * n, xDtype);
    const yr = elementAt(y, r * outFeatures, yDtype);
    let o = 0;
    for (; o + 4 <= outFeatures; o += 4) {
      const w0 = elementAt(w, o * n, wDtype);
      const w1 = elementAt(w0, n, wDtype);
      const w2 = elementAt(w1, n, wDtype);
      const w3 = elementAt(w2, n, wDtype);
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let m = i16x8.splat(0);
      let i = 0;
      for (; i + 8 <= n; i += 8) {
        const px = elementAt(xr, i, xDtype);
        let xl: v128;
        let xh: v128;
        if (xDtype == DTYPE_F32) {
          xl = v128.load(px);
          xh = v128.load(px, 16);
        } else {
          const hx = v128.load(px);
          xl = halfQuad(hx, xDtype, false);
          xh = halfQuad(hx, xDtype, true);
          if (xDtype == DTYPE_F16) m = f16SpecialMax(m, hx);
        }
        const off = <usize>i << (wDtype == DTYPE_F32 ? 2 : 1);
        a0 = dot8(a0, xl, xh, w0 + off, wDtype);
        a1 = dot8(a1, xl, xh, w1 + off, wDtype);
        a2 = dot8(a2, xl, xh, w2 + off, wDtype);
        a3 = dot8(a3, xl, xh, w3 + off, wDtype);
        if (wDtype == DTYPE_F16) {
          m = watch(watch(m, w0 + off, wDtype), w1 + off, wDtype);
          m = watch(watch(m, w2 + off, wDtype), w3 + off, wDtype);
        }
      }
      if (i + 4 <= n) {
        const xv = loadQuad(elementAt(xr, i, xDtype), xDtype);
        a0 = madd(xv, loadQuad(elementAt(w0, i, wDtype), wDtype), a0);
        a1 = madd(xv, loadQuad(elementAt(w1, i, wDtype), wDtype), a1);
        a2 = madd(xv, loadQuad(elementAt(w2, i, wDtype), wDtype), a2);
        a3 = madd(xv, loadQuad(elementAt(w3, i, wDtype), wDtype), a3);
        i += 4;
      }
      let s0 = hsum(a0);
      let s1 = hsum(a1);
      let s2 = hsum(a2);
      let s3 = hsum(a3);
      for (; i < n; i++) {
        const xi = loadF32(xr, i, xDtype);
        s0 += xi * loadF32(w0, i, wDtype);
        s1 += xi * loadF32(w1, i, wDtype);
        s2 += xi * loadF32(w2, i, wDtype);
        s3 += xi * loadF32(w3, i, wDtype);
      }
      if (checks && f16SawSpecial(m)) {
        s0 = dotExact(xr, w0, n, xDtype, wDtype);
        s1 = dotExact(xr, w1, n, xDtype, wDtype);
        s2 = dotExact(xr, w2, n, xDtype, wDtype);
        s3 = dotExact(xr, w3, n, xDtype, wDtype);
      }
      if (bias) {
        s0 += loadF32(bias, o, biasDtype);
        s1 += loadF32(bias, o + 1, biasDtype);
        s2 += loadF32(bias, o + 2, biasDtype);
        s3 += loadF32(bias, o + 3, biasDtype);
      }
      storeF32(yr, o, s0, yDtype);
      storeF32(yr, o + 1, s1, yDtype);
      storeF32(yr, o + 2, s2, yDtype);
      storeF32(yr, o + 3, s3, yDtype);
    }
    for (; o < outFeatures; o++) {
      let s = dotExact(xr, elementAt(w, o * n, wDtype), n, xDtype, wDtype);
      if (bias) s += loadF32(bias, o, biasDtype);
      storeF32(yr, o, s, yDtype);
    }
  }
}

/** linear on f32 x, W, b and y. */
function linearF32(
  x: usize,
  w: usize,
  bias: usize,
  y: usize,
  n: i32,
  outFeatures: i32,
  rowStart: i32,
  rowEnd: i32,
): void {
  for (let r = rowStart; r < rowEnd; r++) {
    const xr = x + ((<usize>(r * n)) << 2);
    const yr = y + ((<usize>(r * outFeatures)) << 2);
    let o = 0;
    for (; o + 4 <= outFeatures; o += 4) {
      const w0 = w + ((<usize>(o * n)) << 2);
      const w1 = w0 + ((<usize>n) << 2);
      const w2 = w1 + ((<usize>n) << 2);
      const w3 = w2 + ((<usize>n) << 2);
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= n; i += 4) {
        const off = (<usize>i) << 2;
        const xv = v128.load(xr + off);
        a0 = madd(xv, v128.load(w0 + off), a0);
        a1 = madd(xv, v128.load(w1 + off), a1);
        a2 = madd(xv, v128.load(w2 + off), a2);
        a3 = madd(xv, v128.load(w3 + off), a3);
      }
      let s0 = hsum(a0);
      let s1 = hsum(a1);
      let s2 = hsum(a2);
      let s3 = hsum(a3);
      for (; i < n; i++) {
        const xi = load<f32>(xr + ((<usize>i) << 2));
        s0 += xi * load<f32>(w0 + ((<usize>i) << 2));
        s1 += xi * load<f32>(w1 + ((<usize>i) << 2));
        s2 += xi * load<f32>(w2 + ((<usize>i) << 2));
        s3 += xi * load<f32>(w3 + ((<usize>i) << 2));
      }
      if (bias) {
        s0 += load<f32>(bias + ((<usize>o) << 2));
        s1 += load<f32>(bias + ((<usize>(o + 1)) << 2));
        s2 += load<f32>(bias + ((<usize>(o + 2)) << 2));
        s3 += load<f32>(bias + ((<usize>(o + 3)) << 2));
      }
      store<f32>(yr + ((<usize>o) << 2), s0);
      store<f32>(yr + ((<usize>(o + 1)) << 2), s1);
      store<f32>(yr + ((<usize>(o + 2)) << 2), s2);
      store<f32>(yr + ((<usize>(o + 3)) << 2), s3);
    }
    for (; o < outFeatures; o++) {
      const wo = w + ((<usize>(o * n)) << 2);
      let s: f32 = bias ? load<f32>(bias + ((<usize>o) << 2)) : 0;
      for (let i = 0; i < n; i++) s += load<f32>(xr + ((<usize>i) << 2)) * load<f32>(wo + ((<usize>i) << 2));
      store<f32>(yr + ((<usize>o) << 2), s);
    }
  }
}
