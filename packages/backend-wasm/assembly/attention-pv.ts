// acc += P·V for one key tile: the weights in scores[r][c] times the tile's value rows.
import { BLOCK_K, f32At } from "./attention-common";
import { madd } from "./simd";

/**
 * Two rows × 16 channels per pass, each value vector loaded once for both rows; an odd last row alone,
 * skipping removed keys (weight −0) so that their v is never read.
 */
// @ts-ignore: decorator
@inline
export function accumulatePV(
  scores: usize,
  acc: usize,
  v: usize,
  vBase: i32,
  vStride: i32,
  c0: i32,
  rows: i32,
  cols: i32,
  dv: i32,
): void {
  let r = 0;
  for (; r + 2 <= rows; r += 2) {
    const sa = scores + (<usize>(r * BLOCK_K) << 2);
    const sb = sa + (<usize>BLOCK_K << 2);
    const aa = acc + (<usize>(r * dv) << 2);
    const ab = aa + (<usize>dv << 2);
    let x = 0;
    for (; x + 16 <= dv; x += 16) {
      const xo = <usize>x << 2;
      let a0 = v128.load(aa + xo);
      let a1 = v128.load(aa + xo, 16);
      let a2 = v128.load(aa + xo, 32);
      let a3 = v128.load(aa + xo, 48);
      let b0 = v128.load(ab + xo);
      let b1 = v128.load(ab + xo, 16);
      let b2 = v128.load(ab + xo, 32);
      let b3 = v128.load(ab + xo, 48);
      let vr = v + (<usize>(vBase + c0 * vStride + x) << 2);
      for (let c = 0; c < cols; c++, vr += <usize>(vStride << 2)) {
        const wa = f32x4.splat(load<f32>(f32At(sa, c)));
        const wb = f32x4.splat(load<f32>(f32At(sb, c)));
        const v0 = v128.load(vr);
        const v1 = v128.load(vr, 16);
        const v2 = v128.load(vr, 32);
        const v3 = v128.load(vr, 48);
        a0 = madd(wa, v0, a0);
        a1 = madd(wa, v1, a1);
        a2 = madd(wa, v2, a2);
        a3 = madd(wa, v3, a3);
        b0 = madd(wb, v0, b0);
        b1 = madd(wb, v1, b1);
        b2 = madd(wb, v2, b2);
        b3 = madd(wb, v3, b3);
      }
      v128.store(aa + xo, a0);
      v128.store(aa + xo, a1, 16);
      v128.store(aa + xo, a2, 32);
      v128.store(aa + xo, a3, 48);
      v128.store(ab + xo, b0);
      v128.store(ab + xo, b1, 16);
      v128.store(ab + xo, b2, 32);
      v128.store(ab + xo, b3, 48);
    }
    for (; x < dv; x++) {
      let a: f32 = load<f32>(f32At(aa, x));
      let bsum: f32 = load<f32>(f32At(ab, x));
      for (let c = 0; c < cols; c++) {
        const vx = load<f32>(f32At(v, vBase + (c0 + c) * vStride + x));
        a += load<f32>(f32At(sa, c)) * vx;
        bsum += load<f32>(f32At(sb, c)) * vx;
      }
      store<f32>(f32At(aa, x), a);
      store<f32>(f32At(ab, x), bsum);
    }
  }
  for (; r < rows; r++) {
    const sr = scores + (<usize>(r * BLOCK_K) << 2);
    const ar = acc + (<usize>(r * dv) << 2);
    let x = 0;
    for (; x + 4 <= dv; x += 4) {
      const ax = ar + (<usize>x << 2);
      let a0 = v128.load(ax);
      for (let c = 0; c < cols; c++) {
        const w = load<f32>(f32At(sr, c));
        if (reinterpret<u32>(w) == 0x80000000) continue; // a removed key: its v is not read
        a0 = madd(f32x4.splat(w), v128.load(v + (<usize>(vBase + (c0 + c) * vStride + x) << 2)), a0);
      }
      v128.store(ax, a0);
    }
    for (; x < dv; x++) {
      let a: f32 = load<f32>(f32At(ar, x));
      for (let c = 0; c < cols; c++) {
        const w = load<f32>(f32At(sr, c));
        if (reinterpret<u32>(w) == 0x80000000) continue;
        a += w * load<f32>(f32At(v, vBase + (c0 + c) * vStride + x));
      }
      store<f32>(f32At(ar, x), a);
    }
  }
}
