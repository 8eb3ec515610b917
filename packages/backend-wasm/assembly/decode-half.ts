// The decode mode's one-row loops (MHA decode: one query row per kv head) on float16 / bfloat16 K and V,
// read in place — no staged tile, every K/V byte read once. A bf16 is the top half of an f32 (a widen and
// a shift, ±∞ and NaN included); an f16 is rebiased (half.ts's halfQuad), and ±∞ / NaN are only detected, eight
// halves at a time: the caller then redoes the tile on the exact staged path. Head sizes: multiples of 8.
import { DTYPE_BF16, DTYPE_F16 } from "../src/attention-layout";
import { f32At } from "./attention-common";
import { halfQuad } from "./half";
import { hsum, madd } from "./simd";

/** Halves 0-3 of `h` as f32x4. */
// @ts-ignore: decorator
@inline
function lo(h: v128, dtype: i32): v128 {
  return halfQuad(h, dtype, false);
}

/** Halves 4-7 of `h` as f32x4. */
// @ts-ignore: decorator
@inline
function hi(h: v128, dtype: i32): v128 {
  return halfQuad(h, dtype, true);
}

/**
 * The running lane maxima of h << 1 (the sign shifted out): one reaches 0xf800 iff some f16 is ±∞ or NaN
 * (exponent all ones) — see noSpecials. bf16 needs none.
 */
// @ts-ignore: decorator
@inline
function specials(flags: v128, h: v128, dtype: i32): v128 {
  if (dtype == DTYPE_BF16) return flags;
  return i16x8.max_u(flags, i16x8.shl(h, 1));
}

/** No ±∞ / NaN among the halves `specials` saw. */
// @ts-ignore: decorator
@inline
function noSpecials(flags: v128): bool {
  return !v128.any_true(i16x8.ge_u(flags, i16x8.splat(<i16>0xf800)));
}

/** q·k of one row against one half key row into `out`; returns the f16 special flags. */
// @ts-ignore: decorator
@inline
function dotHalf(q: usize, kr: usize, d: i32, dtype: i32, out: usize): v128 {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  let flags = i16x8.splat(0);
  for (let x = 0; x < d; x += 8) {
    const h = v128.load(kr + (<usize>x << 1));
    flags = specials(flags, h, dtype);
    a = madd(v128.load(q + (<usize>x << 2)), lo(h, dtype), a);
    b = madd(v128.load(q + (<usize>x << 2), 16), hi(h, dtype), b);
  }
  store<f32>(out, hsum(f32x4.add(a, b)));
  return flags;
}

/**
 * scores[c] = q·k_c for keys [0, cols) of the tile whose first half key row is at `kr` (rows `ks` bytes
 * apart), four keys at a time on eight accumulators; keys past `cols` up to 32 score 0. Returns false if
 * an f16 key holds ±∞ or NaN (the scores are then not usable).
 */
// @ts-ignore: decorator
@inline
function scoresOneRowHalf(q: usize, kr: usize, ks: usize, d: i32, cols: i32, sr: usize, dtype: i32): bool {
  let flags = i16x8.splat(0);
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    const k0 = kr + <usize>c * ks;
    const k1 = k0 + ks;
    const k2 = k1 + ks;
    const k3 = k2 + ks;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0);
    let b1 = f32x4.splat(0);
    let b2 = f32x4.splat(0);
    let b3 = f32x4.splat(0);
    for (let x = 0; x < d; x += 8) {
      const o = <usize>x << 1;
      const qa = v128.load(q + (<usize>x << 2));
      const qb = v128.load(q + (<usize>x << 2), 16);
      const h0 = v128.load(k0 + o);
      a0 = madd(qa, lo(h0, dtype), a0);
      b0 = madd(qb, hi(h0, dtype), b0);
      const h1 = v128.load(k1 + o);
      a1 = madd(qa, lo(h1, dtype), a1);
      b1 = madd(qb, hi(h1, dtype), b1);
      const h2 = v128.load(k2 + o);
      a2 = madd(qa, lo(h2, dtype), a2);
      b2 = madd(qb, hi(h2, dtype), b2);
      const h3 = v128.load(k3 + o);
      a3 = madd(qa, lo(h3, dtype), a3);
      b3 = madd(qb, hi(h3, dtype), b3);
      flags = specials(specials(flags, h0, dtype), h1, dtype);
      flags = specials(specials(flags, h2, dtype), h3, dtype);
    }
    store<f32>(f32At(sr, c), hsum(f32x4.add(a0, b0)));
    store<f32>(f32At(sr, c + 1), hsum(f32x4.add(a1, b1)));
    store<f32>(f32At(sr, c + 2), hsum(f32x4.add(a2, b2)));
    store<f32>(f32At(sr, c + 3), hsum(f32x4.add(a3, b3)));
  }
  for (; c < cols; c++) flags = i16x8.max_u(flags, dotHalf(q, kr + <usize>c * ks, d, dtype, f32At(sr, c)));
  for (; c < 32; c++) store<f32>(f32At(sr, c), 0);
  return noSpecials(flags);
}

/**
 * acc += Σ_c w[c]·v_c over half value rows (`vs` bytes apart), 32 channels per pass (eight accumulators).
 * Returns false if an f16 value holds ±∞ or NaN: acc is then not usable (the caller kept a copy).
 */
// @ts-ignore: decorator
@inline
function pvOneRowHalf(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32, dtype: i32): bool {
  let flags = i16x8.splat(0);
  let x = 0;
  for (; x + 32 <= dv; x += 32) {
    const ax = ar + (<usize>x << 2);
    let a0 = v128.load(ax);
    let a1 = v128.load(ax, 16);
    let a2 = v128.load(ax, 32);
    let a3 = v128.load(ax, 48);
    let a4 = v128.load(ax, 64);
    let a5 = v128.load(ax, 80);
    let a6 = v128.load(ax, 96);
    let a7 = v128.load(ax, 112);
    let row = vr + (<usize>x << 1);
    for (let c = 0; c < cols; c++, row += vs) {
      const w = f32x4.splat(load<f32>(f32At(sr, c)));
      const h0 = v128.load(row);
      a0 = madd(w, lo(h0, dtype), a0);
      a1 = madd(w, hi(h0, dtype), a1);
      const h1 = v128.load(row, 16);
      a2 = madd(w, lo(h1, dtype), a2);
      a3 = madd(w, hi(h1, dtype), a3);
      const h2 = v128.load(row, 32);
      a4 = madd(w, lo(h2, dtype), a4);
      a5 = madd(w, hi(h2, dtype), a5);
      const h3 = v128.load(row, 48);
      a6 = madd(w, lo(h3, dtype), a6);
      a7 = madd(w, hi(h3, dtype), a7);
      flags = specials(specials(flags, h0, dtype), h1, dtype);
      flags = specials(specials(flags, h2, dtype), h3, dtype);
    }
    v128.store(ax, a0);
    v128.store(ax, a1, 16);
    v128.store(ax, a2, 32);
    v128.store(ax, a3, 48);
    v128.store(ax, a4, 64);
    v128.store(ax, a5, 80);
    v128.store(ax, a6, 96);
    v128.store(ax, a7, 112);
  }
  for (; x < dv; x += 8) {
    const ax = ar + (<usize>x << 2);
    let a0 = v128.load(ax);
    let a1 = v128.load(ax, 16);
    let row = vr + (<usize>x << 1);
    for (let c = 0; c < cols; c++, row += vs) {
      const w = f32x4.splat(load<f32>(f32At(sr, c)));
      const h = v128.load(row);
      flags = specials(flags, h, dtype);
      a0 = madd(w, lo(h, dtype), a0);
      a1 = madd(w, hi(h, dtype), a1);
    }
    v128.store(ax, a0);
    v128.store(ax, a1, 16);
  }
  return noSpecials(flags);
}

/** scoresOneRowHalf on bfloat16 keys (never false: bf16 needs no special case). */
export function scoresOneRowBf16(q: usize, kr: usize, ks: usize, d: i32, cols: i32, sr: usize): bool {
  return scoresOneRowHalf(q, kr, ks, d, cols, sr, DTYPE_BF16);
}

/** scoresOneRowHalf on float16 keys. */
export function scoresOneRowF16(q: usize, kr: usize, ks: usize, d: i32, cols: i32, sr: usize): bool {
  return scoresOneRowHalf(q, kr, ks, d, cols, sr, DTYPE_F16);
}

/** pvOneRowHalf on bfloat16 values. */
export function pvOneRowBf16(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32): bool {
  return pvOneRowHalf(sr, ar, vr, vs, cols, dv, DTYPE_BF16);
}

/** pvOneRowHalf on float16 values. */
export function pvOneRowF16(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32): bool {
  return pvOneRowHalf(sr, ar, vr, vs, cols, dv, DTYPE_F16);
}
