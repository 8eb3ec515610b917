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

/** x[r]·W[o] over all n inputs, one value at a time with exact conversions (f16 rows holding ±∞ / NaN). */
function dotExact(xr: usize, wo: usize, n: i32, xDtype: i32, wDtype: i32): f32 {
  let s: f32 = 0;
  for (let i = 0; i < n; i++) s += loadF32(xr, i, xDtype) * loadF32(wo, i, wDtype);
  return s;
}

/**
 * linear with a half x, W, b or y (x and W dtypes constant at each call): rows [rowStart, rowEnd) two at
 * a time, so each weight vector is loaded and converted once for two rows.
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
  let r = rowStart;
  for (; r + 2 <= rowEnd; r += 2) linearRows(x, w, bias, y, n, outFeatures, r, true, xDtype, wDtype, biasDtype, yDtype);
  if (r < rowEnd) linearRows(x, w, bias, y, n, outFeatures, r, false, xDtype, wDtype, biasDtype, yDtype);
}

/**
 * Sums and stores output o of the row at xr / yr: the four-lane partial `acc`, the 4-wide step and the
 * tail from i0 (exact: recomputed from scratch). A call per output, outside the inner loop.
 */
function finish(
  acc: v128,
  xr: usize,
  wo: usize,
  i0: i32,
  n: i32,
  exact: bool,
  bias: usize,
  o: i32,
  yr: usize,
  xDtype: i32,
  wDtype: i32,
  biasDtype: i32,
  yDtype: i32,
): void {
  let i = i0;
  let a = acc;
  if (i + 4 <= n) {
    a = madd(loadQuad(elementAt(xr, i, xDtype), xDtype), loadQuad(elementAt(wo, i, wDtype), wDtype), a);
    i += 4;
  }
  let s = hsum(a);
  for (; i < n; i++) s += loadF32(xr, i, xDtype) * loadF32(wo, i, wDtype);
  if (exact) s = dotExact(xr, wo, n, xDtype, wDtype);
  if (bias) s += loadF32(bias, o, biasDtype);
  storeF32(yr, o, s, yDtype);
}

/**
 * Row r (and r + 1 when `two`) of linearWith: four outputs per pass, eight inputs per step. The fast f16
 * conversion (halfQuad) is exact for finite values only, so f16 data is watched for ±∞ / NaN (two
 * instructions per eight values) and a group of outputs that met one is recomputed with exact
 * conversions — the result then is what IEEE arithmetic on the values gives (∞, or NaN).
 */
// @ts-ignore: decorator
@inline
function linearRows(
  x: usize,
  w: usize,
  bias: usize,
  y: usize,
  n: i32,
  outFeatures: i32,
  r: i32,
  two: bool,
  xDtype: i32,
  wDtype: i32,
  biasDtype: i32,
  yDtype: i32,
): void {
  const f32w = wDtype == DTYPE_F32;
  const xr0 = elementAt(x, r * n, xDtype);
  const xr1 = elementAt(xr0, n, xDtype);
  const yr0 = elementAt(y, r * outFeatures, yDtype);
  const yr1 = elementAt(yr0, outFeatures, yDtype);
  let o = 0;
  for (; o + 4 <= outFeatures; o += 4) {
    const w0 = elementAt(w, o * n, wDtype);
    const w1 = elementAt(w0, n, wDtype);
    const w2 = elementAt(w1, n, wDtype);
    const w3 = elementAt(w2, n, wDtype);
    let a00 = f32x4.splat(0);
    let a10 = f32x4.splat(0);
    let a20 = f32x4.splat(0);
    let a30 = f32x4.splat(0);
    let a01 = f32x4.splat(0);
    let a11 = f32x4.splat(0);
    let a21 = f32x4.splat(0);
    let a31 = f32x4.splat(0);
    let m = i16x8.splat(0);
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      // x: eight values of each row as two quads (f32: two loads).
      const px0 = elementAt(xr0, i, xDtype);
      const px1 = elementAt(xr1, i, xDtype);
      const hx0 = xDtype == DTYPE_F32 ? v128.load(px0, 16) : v128.load(px0);
      const xl0 = xDtype == DTYPE_F32 ? v128.load(px0) : halfQuad(hx0, xDtype, false);
      const xh0 = xDtype == DTYPE_F32 ? hx0 : halfQuad(hx0, xDtype, true);
      if (xDtype == DTYPE_F16) m = f16SpecialMax(m, hx0);
      let xl1 = xl0;
      let xh1 = xh0;
      if (two) {
        const hx1 = xDtype == DTYPE_F32 ? v128.load(px1, 16) : v128.load(px1);
        xl1 = xDtype == DTYPE_F32 ? v128.load(px1) : halfQuad(hx1, xDtype, false);
        xh1 = xDtype == DTYPE_F32 ? hx1 : halfQuad(hx1, xDtype, true);
        if (xDtype == DTYPE_F16) m = f16SpecialMax(m, hx1);
      }
      const off = <usize>i << (f32w ? 2 : 1);
      // W: eight values of each of the four rows, converted once for both x rows.
      const h0 = f32w ? v128.load(w0 + off, 16) : v128.load(w0 + off);
      const l0 = f32w ? v128.load(w0 + off) : halfQuad(h0, wDtype, false);
      const u0 = f32w ? h0 : halfQuad(h0, wDtype, true);
      a00 = madd(xh0, u0, madd(xl0, l0, a00));
      if (two) a01 = madd(xh1, u0, madd(xl1, l0, a01));
      const h1 = f32w ? v128.load(w1 + off, 16) : v128.load(w1 + off);
      const l1 = f32w ? v128.load(w1 + off) : halfQuad(h1, wDtype, false);
      const u1 = f32w ? h1 : halfQuad(h1, wDtype, true);
      a10 = madd(xh0, u1, madd(xl0, l1, a10));
      if (two) a11 = madd(xh1, u1, madd(xl1, l1, a11));
      const h2 = f32w ? v128.load(w2 + off, 16) : v128.load(w2 + off);
      const l2 = f32w ? v128.load(w2 + off) : halfQuad(h2, wDtype, false);
      const u2 = f32w ? h2 : halfQuad(h2, wDtype, true);
      a20 = madd(xh0, u2, madd(xl0, l2, a20));
      if (two) a21 = madd(xh1, u2, madd(xl1, l2, a21));
      const h3 = f32w ? v128.load(w3 + off, 16) : v128.load(w3 + off);
      const l3 = f32w ? v128.load(w3 + off) : halfQuad(h3, wDtype, false);
      const u3 = f32w ? h3 : halfQuad(h3, wDtype, true);
      a30 = madd(xh0, u3, madd(xl0, l3, a30));
      if (two) a31 = madd(xh1, u3, madd(xl1, l3, a31));
      if (wDtype == DTYPE_F16) m = f16SpecialMax(f16SpecialMax(f16SpecialMax(f16SpecialMax(m, h0), h1), h2), h3);
    }
    const exact = (xDtype == DTYPE_F16 || wDtype == DTYPE_F16) && f16SawSpecial(m);
    finish(a00, xr0, w0, i, n, exact, bias, o, yr0, xDtype, wDtype, biasDtype, yDtype);
    finish(a10, xr0, w1, i, n, exact, bias, o + 1, yr0, xDtype, wDtype, biasDtype, yDtype);
    finish(a20, xr0, w2, i, n, exact, bias, o + 2, yr0, xDtype, wDtype, biasDtype, yDtype);
    finish(a30, xr0, w3, i, n, exact, bias, o + 3, yr0, xDtype, wDtype, biasDtype, yDtype);
    if (two) {
      finish(a01, xr1, w0, i, n, exact, bias, o, yr1, xDtype, wDtype, biasDtype, yDtype);
      finish(a11, xr1, w1, i, n, exact, bias, o + 1, yr1, xDtype, wDtype, biasDtype, yDtype);
      finish(a21, xr1, w2, i, n, exact, bias, o + 2, yr1, xDtype, wDtype, biasDtype, yDtype);
      finish(a31, xr1, w3, i, n, exact, bias, o + 3, yr1, xDtype, wDtype, biasDtype, yDtype);
    }
  }
  for (; o < outFeatures; o++) {
    const wo = elementAt(w, o * n, wDtype);
    finish(f32x4.splat(0), xr0, wo, n, n, true, bias, o, yr0, xDtype, wDtype, biasDtype, yDtype);
    if (two) finish(f32x4.splat(0), xr1, wo, n, n, true, bias, o, yr1, xDtype, wDtype, biasDtype, yDtype);
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
