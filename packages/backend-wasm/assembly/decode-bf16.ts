// The decode mode's one-row loops (MHA decode: one query row per kv head) on bfloat16 K and V, read in
// place: a bf16 is the top half of an f32, so eight of them become two f32x4 with one shuffle each
// (±∞ and NaN included) — no staged tile, every K/V byte read once. Head sizes are multiples of 8.
import { f32At } from "./attention-common";
import { hsum, madd } from "./simd";

/** Halves 0-3 of `h` as f32x4. */
// @ts-ignore: decorator
@inline
function lo(h: v128): v128 {
  return i8x16.shuffle(i32x4.splat(0), h, 0, 1, 16, 17, 0, 1, 18, 19, 0, 1, 20, 21, 0, 1, 22, 23);
}

/** Halves 4-7 of `h` as f32x4. */
// @ts-ignore: decorator
@inline
function hi(h: v128): v128 {
  return i8x16.shuffle(i32x4.splat(0), h, 0, 1, 24, 25, 0, 1, 26, 27, 0, 1, 28, 29, 0, 1, 30, 31);
}

/** q·k of one row against one bf16 key row. */
// @ts-ignore: decorator
@inline
function dotBf16(q: usize, kr: usize, d: i32): f32 {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  for (let x = 0; x < d; x += 8) {
    const h = v128.load(kr + (<usize>x << 1));
    a = madd(v128.load(q + (<usize>x << 2)), lo(h), a);
    b = madd(v128.load(q + (<usize>x << 2), 16), hi(h), b);
  }
  return hsum(f32x4.add(a, b));
}

/**
 * scores[c] = q·k_c for keys [0, cols) of the tile whose first bf16 key row is at `kr` (rows `ks` bytes
 * apart), four keys at a time on eight accumulators; keys past `cols` up to 32 score 0.
 */
export function scoresOneRowBf16(q: usize, kr: usize, ks: usize, d: i32, cols: i32, sr: usize): void {
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
      a0 = madd(qa, lo(h0), a0);
      b0 = madd(qb, hi(h0), b0);
      const h1 = v128.load(k1 + o);
      a1 = madd(qa, lo(h1), a1);
      b1 = madd(qb, hi(h1), b1);
      const h2 = v128.load(k2 + o);
      a2 = madd(qa, lo(h2), a2);
      b2 = madd(qb, hi(h2), b2);
      const h3 = v128.load(k3 + o);
      a3 = madd(qa, lo(h3), a3);
      b3 = madd(qb, hi(h3), b3);
    }
    store<f32>(f32At(sr, c), hsum(f32x4.add(a0, b0)));
    store<f32>(f32At(sr, c + 1), hsum(f32x4.add(a1, b1)));
    store<f32>(f32At(sr, c + 2), hsum(f32x4.add(a2, b2)));
    store<f32>(f32At(sr, c + 3), hsum(f32x4.add(a3, b3)));
  }
  for (; c < cols; c++) store<f32>(f32At(sr, c), dotBf16(q, kr + <usize>c * ks, d));
  for (; c < 32; c++) store<f32>(f32At(sr, c), 0);
}

/** acc += Σ_c w[c]·v_c over bf16 value rows (`vs` bytes apart), 32 channels per pass (eight accumulators). */
export function pvOneRowBf16(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32): void {
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
      a0 = madd(w, lo(h0), a0);
      a1 = madd(w, hi(h0), a1);
      const h1 = v128.load(row, 16);
      a2 = madd(w, lo(h1), a2);
      a3 = madd(w, hi(h1), a3);
      const h2 = v128.load(row, 32);
      a4 = madd(w, lo(h2), a4);
      a5 = madd(w, hi(h2), a5);
      const h3 = v128.load(row, 48);
      a6 = madd(w, lo(h3), a6);
      a7 = madd(w, hi(h3), a7);
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
      a0 = madd(w, lo(h), a0);
      a1 = madd(w, hi(h), a1);
    }
    v128.store(ax, a0);
    v128.store(ax, a1, 16);
  }
}
