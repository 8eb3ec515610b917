import { DTYPE_BF16, DTYPE_F16, DTYPE_F32 } from "../src/attention-layout";
import { elementAt, loadF32, loadQuad, storeF32, storeQuad } from "./half";

/**
 * RMSNorm of rows [rowStart, rowEnd) of x [rows, dim] into y (which may be x), y in x's dtype and w in
 * its own (DTYPE_*). Halves are read as f32 four values at a time (exact), y is written rounded to nearest
 * even; all f32 takes the f32 loops (rmsNormF32), each other pair of dtypes loops of its own.
 */
export function rmsNorm(
  x: usize,
  w: usize,
  y: usize,
  dim: i32,
  eps: f64,
  weightOffset: f32,
  rowStart: i32,
  rowEnd: i32,
  xDtype: i32,
  wDtype: i32,
): void {
  if (xDtype == DTYPE_F32) {
    if (wDtype == DTYPE_F32) rmsNormF32(x, w, y, dim, eps, weightOffset, rowStart, rowEnd);
    else if (wDtype == DTYPE_F16) rmsNormWith(x, w, y, dim, eps, weightOffset, rowStart, rowEnd, DTYPE_F32, DTYPE_F16);
    else rmsNormWith(x, w, y, dim, eps, weightOffset, rowStart, rowEnd, DTYPE_F32, DTYPE_BF16);
  } else if (xDtype == DTYPE_F16) {
    if (wDtype == DTYPE_F32) rmsNormWith(x, w, y, dim, eps, weightOffset, rowStart, rowEnd, DTYPE_F16, DTYPE_F32);
    else if (wDtype == DTYPE_F16) rmsNormWith(x, w, y, dim, eps, weightOffset, rowStart, rowEnd, DTYPE_F16, DTYPE_F16);
    else rmsNormWith(x, w, y, dim, eps, weightOffset, rowStart, rowEnd, DTYPE_F16, DTYPE_BF16);
  } else {
    if (wDtype == DTYPE_F32) rmsNormWith(x, w, y, dim, eps, weightOffset, rowStart, rowEnd, DTYPE_BF16, DTYPE_F32);
    else if (wDtype == DTYPE_F16) rmsNormWith(x, w, y, dim, eps, weightOffset, rowStart, rowEnd, DTYPE_BF16, DTYPE_F16);
    else rmsNormWith(x, w, y, dim, eps, weightOffset, rowStart, rowEnd, DTYPE_BF16, DTYPE_BF16);
  }
}

/** rmsNorm with a half x or w (dtypes constant at each call): the f32 loops through loadQuad / storeQuad. */
// @ts-ignore: decorator
@inline
function rmsNormWith(
  x: usize,
  w: usize,
  y: usize,
  dim: i32,
  eps: f64,
  weightOffset: f32,
  rowStart: i32,
  rowEnd: i32,
  xDtype: i32,
  wDtype: i32,
): void {
  const offset = f32x4.splat(weightOffset);
  for (let r = rowStart; r < rowEnd; r++) {
    const xr = elementAt(x, r * dim, xDtype);
    const yr = elementAt(y, r * dim, xDtype);
    let a0 = f64x2.splat(0);
    let a1 = f64x2.splat(0);
    let c = 0;
    for (; c + 4 <= dim; c += 4) {
      const v = loadQuad(elementAt(xr, c, xDtype), xDtype);
      const lo = f64x2.promote_low_f32x4(v);
      const hi = f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1));
      a0 = f64x2.add(a0, f64x2.mul(lo, lo));
      a1 = f64x2.add(a1, f64x2.mul(hi, hi));
    }
    const s = f64x2.add(a0, a1);
    let sum = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
    for (; c < dim; c++) {
      const e = <f64>loadF32(xr, c, xDtype);
      sum += e * e;
    }
    const inv = <f32>(1 / Math.sqrt(sum / <f64>dim + eps));
    const vInv = f32x4.splat(inv);
    c = 0;
    if (w) {
      for (; c + 4 <= dim; c += 4) {
        const scale = f32x4.mul(vInv, f32x4.add(offset, loadQuad(elementAt(w, c, wDtype), wDtype)));
        storeQuad(elementAt(yr, c, xDtype), f32x4.mul(loadQuad(elementAt(xr, c, xDtype), xDtype), scale), xDtype);
      }
      for (; c < dim; c++)
        storeF32(yr, c, loadF32(xr, c, xDtype) * (inv * (weightOffset + loadF32(w, c, wDtype))), xDtype);
    } else {
      for (; c + 4 <= dim; c += 4) {
        const p = elementAt(xr, c, xDtype);
        storeQuad(elementAt(yr, c, xDtype), f32x4.mul(loadQuad(p, xDtype), vInv), xDtype);
      }
      for (; c < dim; c++) storeF32(yr, c, loadF32(xr, c, xDtype) * inv, xDtype);
    }
  }
}

/**
 * RMSNorm of f32 rows [rowStart, rowEnd) of x [rows, dim] into y (which may be x):
 * y = x / √(mean(x²) + eps) · (weightOffset + w), w = 0 for no weight. The sum of squares is taken in f64
 * (each f32x4 widened to two f64x2): no overflow for |x| past 1e19 and no f32 rounding drift over long
 * rows, so a row matches the f64 reference to f32 rounding. The scaling pass is f32x4.
 */
function rmsNormF32(
  x: usize,
  w: usize,
  y: usize,
  dim: i32,
  eps: f64,
  weightOffset: f32,
  rowStart: i32,
  rowEnd: i32,
): void {
  const offset = f32x4.splat(weightOffset);
  for (let r = rowStart; r < rowEnd; r++) {
    const xr = x + (<usize>(r * dim) << 2);
    const yr = y + (<usize>(r * dim) << 2);
    let a0 = f64x2.splat(0);
    let a1 = f64x2.splat(0);
    let c = 0;
    for (; c + 4 <= dim; c += 4) {
      const v = v128.load(xr + (<usize>c << 2));
      const lo = f64x2.promote_low_f32x4(v);
      const hi = f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1));
      a0 = f64x2.add(a0, f64x2.mul(lo, lo));
      a1 = f64x2.add(a1, f64x2.mul(hi, hi));
    }
    const s = f64x2.add(a0, a1);
    let sum = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
    for (; c < dim; c++) {
      const e = <f64>load<f32>(xr + (<usize>c << 2));
      sum += e * e;
    }
    const inv = <f32>(1 / Math.sqrt(sum / <f64>dim + eps));
    const vInv = f32x4.splat(inv);
    c = 0;
    if (w) {
      for (; c + 4 <= dim; c += 4) {
        const off = <usize>c << 2;
        const scale = f32x4.mul(vInv, f32x4.add(offset, v128.load(w + off)));
        v128.store(yr + off, f32x4.mul(v128.load(xr + off), scale));
      }
      for (; c < dim; c++) {
        const off = <usize>c << 2;
        store<f32>(yr + off, load<f32>(xr + off) * (inv * (weightOffset + load<f32>(w + off))));
      }
    } else {
      for (; c + 4 <= dim; c += 4) {
        const off = <usize>c << 2;
        v128.store(yr + off, f32x4.mul(v128.load(xr + off), vInv));
      }
      for (; c < dim; c++) store<f32>(yr + (<usize>c << 2), load<f32>(xr + (<usize>c << 2)) * inv);
    }
  }
}
