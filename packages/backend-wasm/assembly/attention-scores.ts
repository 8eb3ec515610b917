// Raw scores of one tile: q rows (already scaled) against up to BLOCK_K keys, into scores[r][c].
import { BLOCK_K, f32At } from "./attention-common";
import { hsum, madd } from "./simd";

/**
 * Few rows (decode): dot products straight from the K rows, four rows per key load. Columns past `cols`
 * score 0 (they are removed later).
 */
// @ts-ignore: decorator
@inline
export function scoresFewRows(
  qb: usize,
  k: usize,
  kBase: i32,
  kStride: i32,
  c0: i32,
  d: i32,
  rows: i32,
  cols: i32,
  scores: usize,
): void {
  const qa = qb;
  const q1 = rows > 1 ? qb + (<usize>d << 2) : qb;
  const q2 = rows > 2 ? qb + (<usize>(2 * d) << 2) : qb;
  const q3 = rows > 3 ? qb + (<usize>(3 * d) << 2) : qb;
  for (let c = 0; c < BLOCK_K; c++) {
    if (c >= cols) {
      for (let r = 0; r < rows; r++) store<f32>(f32At(scores, r * BLOCK_K + c), 0);
      continue;
    }
    const kr = k + (<usize>(kBase + (c0 + c) * kStride) << 2);
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let x = 0;
    for (; x + 4 <= d; x += 4) {
      const off = <usize>x << 2;
      const kv = v128.load(kr + off);
      a0 = madd(v128.load(qa + off), kv, a0);
      a1 = madd(v128.load(q1 + off), kv, a1);
      a2 = madd(v128.load(q2 + off), kv, a2);
      a3 = madd(v128.load(q3 + off), kv, a3);
    }
    let s0 = hsum(a0);
    let s1 = hsum(a1);
    let s2 = hsum(a2);
    let s3 = hsum(a3);
    for (; x < d; x++) {
      const kx = load<f32>(f32At(kr, x));
      s0 += load<f32>(f32At(qa, x)) * kx;
      s1 += load<f32>(f32At(q1, x)) * kx;
      s2 += load<f32>(f32At(q2, x)) * kx;
      s3 += load<f32>(f32At(q3, x)) * kx;
    }
    store<f32>(f32At(scores, c), s0);
    if (rows > 1) store<f32>(f32At(scores, BLOCK_K + c), s1);
    if (rows > 2) store<f32>(f32At(scores, 2 * BLOCK_K + c), s2);
    if (rows > 3) store<f32>(f32At(scores, 3 * BLOCK_K + c), s3);
  }
}

/**
 * Many rows: the K tile transposed into kt[x][c] (missing columns zero, removed later), then two query
 * rows × 16 keys per pass (8 accumulators), each K^T load feeding two rows.
 */
// @ts-ignore: decorator
@inline
export function scoresTiled(
  qb: usize,
  kt: usize,
  k: usize,
  kBase: i32,
  kStride: i32,
  c0: i32,
  d: i32,
  rows: i32,
  cols: i32,
  scores: usize,
): void {
  for (let c = 0; c < BLOCK_K; c++) {
    if (c < cols) {
      const kr = k + (<usize>(kBase + (c0 + c) * kStride) << 2);
      for (let x = 0; x < d; x++) store<f32>(f32At(kt, x * BLOCK_K + c), load<f32>(kr + (<usize>x << 2)));
    } else {
      for (let x = 0; x < d; x++) store<f32>(f32At(kt, x * BLOCK_K + c), 0);
    }
  }

  for (let r = 0; r < rows; r += 2) {
    const two = r + 1 < rows;
    const qa = qb + (<usize>(r * d) << 2);
    const qc = two ? qa + (<usize>d << 2) : qa;
    for (let half = 0; half < 2; half++) {
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0);
      let b1 = f32x4.splat(0);
      let b2 = f32x4.splat(0);
      let b3 = f32x4.splat(0);
      let kx = kt + (<usize>(half * 16) << 2);
      for (let x = 0; x < d; x++, kx += <usize>(BLOCK_K << 2)) {
        const xa = f32x4.splat(load<f32>(qa + (<usize>x << 2)));
        const xc = f32x4.splat(load<f32>(qc + (<usize>x << 2)));
        const k0 = v128.load(kx);
        const k1 = v128.load(kx, 16);
        const k2 = v128.load(kx, 32);
        const k3 = v128.load(kx, 48);
        a0 = madd(xa, k0, a0);
        a1 = madd(xa, k1, a1);
        a2 = madd(xa, k2, a2);
        a3 = madd(xa, k3, a3);
        b0 = madd(xc, k0, b0);
        b1 = madd(xc, k1, b1);
        b2 = madd(xc, k2, b2);
        b3 = madd(xc, k3, b3);
      }
      const sa = scores + (<usize>(r * BLOCK_K + half * 16) << 2);
      v128.store(sa, a0);
      v128.store(sa, a1, 16);
      v128.store(sa, a2, 32);
      v128.store(sa, a3, 48);
      if (two) {
        const sb = sa + (<usize>BLOCK_K << 2);
        v128.store(sb, b0);
        v128.store(sb, b1, 16);
        v128.store(sb, b2, 32);
        v128.store(sb, b3, 48);
      }
    }
  }
}
