// The decode mode's one-row loops (MHA decode: one query row per kv head) on float16 / bfloat16 K and V,
// read in place — no staged tile, every K/V byte read once. A bf16 is the top half of an f32 (a word
// interleave, ±∞ and NaN included); an f16 is rebiased with the 2^112 factor folded into the query and the
// weights (F16_FOLD), and ±∞ / NaN are only detected, eight halves at a time: the caller then takes the
// exact staged path (K) or marks the row for the host's f64 recompute (V). Head sizes: multiples of 8.
// While K is scored, the tile's V rows are touched (one load per step), so that the memory system fetches
// them alongside K's instead of the P·V pass waiting for them: wasm has no prefetch instruction, and the
// hardware prefetchers alone left this loop waiting on memory (MHA 8192, 1 thread: f16 26 → 20 ms CPU).
import { DTYPE_BF16, DTYPE_F16 } from "../src/attention-layout";
import { BLOCK_K, f32At } from "./attention-common";
import { F16_SCALE, halfQuadUnscaled } from "./half";
import { hsum4 } from "./decode-scores";
import { hsum, madd } from "./simd";

/**
 * 2^112, the f16 rebias factor (half.ts's F16_SCALE, which halfQuad multiplies each converted lane by).
 * Here it is folded into the other factor of every product instead — the query once per unit, a weight
 * once per key — so the conversion is integer lane work only (halfQuadUnscaled): (q·2^112)·(k·2^−112) is
 * the same real number as q·k (power-of-two scalings are exact, subnormal halves included), hence the
 * same rounded f32.
 */
const F16_FOLD: f32 = F16_SCALE;

/** Halves 0-3 of `h` as f32x4 (f16: times 2^−112). */
// @ts-ignore: decorator
@inline
function lo(h: v128, dtype: i32): v128 {
  return halfQuadUnscaled(h, dtype, false);
}

/** Halves 4-7 of `h` as f32x4 (f16: times 2^−112). */
// @ts-ignore: decorator
@inline
function hi(h: v128, dtype: i32): v128 {
  return halfQuadUnscaled(h, dtype, true);
}

/**
 * q' = q·2^112 (d floats from `q` to `out`), the query the in-place f16 scores read. False if some
 * q' overflows (|q| ≥ 2^16): the caller then takes the staged path.
 */
export function foldQuery(q: usize, out: usize, d: i32): bool {
  const s = f32x4.splat(F16_FOLD);
  let big = f32x4.splat(0);
  let x = 0;
  for (; x + 4 <= d; x += 4) {
    const v = f32x4.mul(v128.load(q + (<usize>x << 2)), s);
    big = f32x4.max(big, f32x4.abs(v));
    v128.store(out + (<usize>x << 2), v);
  }
  let ok = f32x4.extract_lane(big, 0) < <f32>Infinity;
  ok = ok && f32x4.extract_lane(big, 1) < <f32>Infinity;
  ok = ok && f32x4.extract_lane(big, 2) < <f32>Infinity;
  ok = ok && f32x4.extract_lane(big, 3) < <f32>Infinity;
  for (; x < d; x++) {
    const v = load<f32>(f32At(q, x)) * F16_FOLD;
    ok = ok && Mathf.abs(v) < <f32>Infinity;
    store<f32>(f32At(out, x), v);
  }
  return ok;
}

/**
 * The running lane maxima of h << 1 (the sign shifted out; as h + h, which more execution ports take than
 * a shift): one reaches 0xf800 iff some f16 is ±∞ or NaN (exponent all ones) — see noSpecials. bf16
 * needs none.
 */
// @ts-ignore: decorator
@inline
function specials(flags: v128, h: v128, dtype: i32): v128 {
  if (dtype == DTYPE_BF16) return flags;
  return i16x8.max_u(flags, i16x8.add(h, h));
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
 * apart; f16: `q` is foldQuery's q·2^112), four keys at a time on four accumulators (the conversions
 * leave enough independent work between their adds); keys past `cols` up to 32 score 0. The same keys'
 * V rows (at `vr`, `vs` bytes apart, `vBytes` long) are touched, one 16-byte load per step. Returns false
 * if an f16 key holds ±∞ or NaN (the scores are then not usable).
 */
// @ts-ignore: decorator
@inline
function scoresOneRowHalf(
  q: usize,
  kr: usize,
  ks: usize,
  d: i32,
  cols: i32,
  sr: usize,
  dtype: i32,
  vr: usize,
  vs: usize,
  vBytes: usize,
): bool {
  let flags = i16x8.splat(0);
  let touch = i16x8.splat(0);
  const lastLine = vBytes - 16; // the last 16 bytes of a V row
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
    for (let x = 0; x < d; x += 8) {
      const o = <usize>x << 1;
      const qa = v128.load(q + (<usize>x << 2));
      const qb = v128.load(q + (<usize>x << 2), 16);
      // Step i touches line i / 4 of key i % 4's V row (d = dv: every line of the four rows once).
      const line = min((<usize>x >> 5) << 6, lastLine);
      touch = v128.or(touch, v128.load(vr + (<usize>c + ((<usize>x >> 3) & 3)) * vs + line));
      const h0 = v128.load(k0 + o);
      a0 = madd(qb, hi(h0, dtype), madd(qa, lo(h0, dtype), a0));
      const h1 = v128.load(k1 + o);
      a1 = madd(qb, hi(h1, dtype), madd(qa, lo(h1, dtype), a1));
      const h2 = v128.load(k2 + o);
      a2 = madd(qb, hi(h2, dtype), madd(qa, lo(h2, dtype), a2));
      const h3 = v128.load(k3 + o);
      a3 = madd(qb, hi(h3, dtype), madd(qa, lo(h3, dtype), a3));
      flags = specials(specials(flags, h0, dtype), h1, dtype);
      flags = specials(specials(flags, h2, dtype), h3, dtype);
    }
    v128.store(f32At(sr, c), hsum4(a0, a1, a2, a3));
  }
  for (; c < cols; c++) flags = i16x8.max_u(flags, dotHalf(q, kr + <usize>c * ks, d, dtype, f32At(sr, c)));
  for (; c < 32; c++) store<f32>(f32At(sr, c), 0);
  touched = v128.or(touched, touch);
  return noSpecials(flags);
}

/** Where the V lines scoresOneRowHalf touches end up, so that the loads are kept. Never read. */
let touched: v128 = i32x4.splat(0);

/**
 * acc += Σ_c w[c]·v_c over half value rows (`vs` bytes apart), 32 channels per pass (eight accumulators).
 * f16 weights come scaled by 2^112 (foldWeights). Returns false if an f16 value holds ±∞ or NaN: acc is
 * then not usable, and the caller marks the row for the host's f64 recompute — where the staged path
 * would have ended too, since such a value makes the row's output non-finite (w·∞, 0·∞ = NaN).
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
      const w = v128.load32_splat(f32At(sr, c));
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
      const w = v128.load32_splat(f32At(sr, c));
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

/**
 * The tile's weights (one row of BLOCK_K) times 2^112 in place, for pvOneRowF16 (see F16_FOLD). Exact:
 * weights are at most 1; −0, a removed key's, stays −0.
 */
export function foldWeights(sr: usize): void {
  const f = f32x4.splat(F16_FOLD);
  for (let c = 0; c < BLOCK_K; c += 4) v128.store(f32At(sr, c), f32x4.mul(v128.load(f32At(sr, c)), f));
}

/** scoresOneRowHalf on bfloat16 keys (never false: bf16 needs no special case). */
export function scoresOneRowBf16(
  q: usize,
  kr: usize,
  ks: usize,
  d: i32,
  cols: i32,
  sr: usize,
  vr: usize,
  vs: usize,
  vBytes: usize,
): bool {
  return scoresOneRowHalf(q, kr, ks, d, cols, sr, DTYPE_BF16, vr, vs, vBytes);
}

/** scoresOneRowHalf on float16 keys; `q` is foldQuery's. */
export function scoresOneRowF16(
  q: usize,
  kr: usize,
  ks: usize,
  d: i32,
  cols: i32,
  sr: usize,
  vr: usize,
  vs: usize,
  vBytes: usize,
): bool {
  return scoresOneRowHalf(q, kr, ks, d, cols, sr, DTYPE_F16, vr, vs, vBytes);
}

/** pvOneRowHalf on bfloat16 values (never false: bf16 needs no special case). */
export function pvOneRowBf16(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32): bool {
  return pvOneRowHalf(sr, ar, vr, vs, cols, dv, DTYPE_BF16);
}

/** pvOneRowHalf on float16 values; the weights scaled by 2^112 (foldWeights). */
export function pvOneRowF16(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32): bool {
  return pvOneRowHalf(sr, ar, vr, vs, cols, dv, DTYPE_F16);
}

// ---- GQA decode: four query rows per kv head (or a multiple of four), K and V still read in place. Each
// half vector is loaded and converted once for all four rows; f16 takes the same 2^112 fold (every row's
// query by foldQuery, every row's weights by foldWeights).

/**
 * scores[r][c] = q_r·k_c for four rows (q rows `d` floats apart, score rows BLOCK_K apart) and keys
 * [0, cols) of the tile whose first half key row is at `kr` (rows `ks` bytes apart), two keys at a time on
 * eight accumulators; keys past `cols` up to 32 score 0. When `vr` is not 0, the same keys' V rows (`vs`
 * bytes apart, `vBytes` long) are touched, one 16-byte load per step. Returns false if an f16 key holds
 * ±∞ or NaN (the scores are then not usable).
 */
// @ts-ignore: decorator
@inline
function scoresFourRowsHalf(
  q: usize,
  kr: usize,
  ks: usize,
  d: i32,
  cols: i32,
  sr: usize,
  dtype: i32,
  vr: usize,
  vs: usize,
  vBytes: usize,
): bool {
  let flags = i16x8.splat(0);
  let touch = i16x8.splat(0);
  const lastLine = vBytes - 16;
  const qs = <usize>d << 2;
  const q1 = q + qs;
  const q2 = q1 + qs;
  const q3 = q2 + qs;
  const ss = <usize>BLOCK_K << 2;
  let c = 0;
  for (; c + 2 <= cols; c += 2) {
    const k0 = kr + <usize>c * ks;
    const k1 = k0 + ks;
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
      const qo = <usize>x << 2;
      // Step i touches line i / 4 of key i % 2's V row (d = dv: every line of the two rows, twice).
      if (vr != 0) {
        const line = min((<usize>x >> 5) << 6, lastLine);
        touch = v128.or(touch, v128.load(vr + (<usize>c + ((<usize>x >> 3) & 1)) * vs + line));
      }
      const h0 = v128.load(k0 + o);
      const h1 = v128.load(k1 + o);
      flags = specials(specials(flags, h0, dtype), h1, dtype);
      const l0 = lo(h0, dtype);
      const u0 = hi(h0, dtype);
      const l1 = lo(h1, dtype);
      const u1 = hi(h1, dtype);
      let xa = v128.load(q + qo);
      let xb = v128.load(q + qo, 16);
      a0 = madd(xb, u0, madd(xa, l0, a0));
      b0 = madd(xb, u1, madd(xa, l1, b0));
      xa = v128.load(q1 + qo);
      xb = v128.load(q1 + qo, 16);
      a1 = madd(xb, u0, madd(xa, l0, a1));
      b1 = madd(xb, u1, madd(xa, l1, b1));
      xa = v128.load(q2 + qo);
      xb = v128.load(q2 + qo, 16);
      a2 = madd(xb, u0, madd(xa, l0, a2));
      b2 = madd(xb, u1, madd(xa, l1, b2));
      xa = v128.load(q3 + qo);
      xb = v128.load(q3 + qo, 16);
      a3 = madd(xb, u0, madd(xa, l0, a3));
      b3 = madd(xb, u1, madd(xa, l1, b3));
    }
    const s = hsum4(a0, a1, a2, a3);
    const t = hsum4(b0, b1, b2, b3);
    const sc = sr + (<usize>c << 2);
    store<f32>(sc, f32x4.extract_lane(s, 0));
    store<f32>(sc + ss, f32x4.extract_lane(s, 1));
    store<f32>(sc + 2 * ss, f32x4.extract_lane(s, 2));
    store<f32>(sc + 3 * ss, f32x4.extract_lane(s, 3));
    store<f32>(sc, f32x4.extract_lane(t, 0), 4);
    store<f32>(sc + ss, f32x4.extract_lane(t, 1), 4);
    store<f32>(sc + 2 * ss, f32x4.extract_lane(t, 2), 4);
    store<f32>(sc + 3 * ss, f32x4.extract_lane(t, 3), 4);
  }
  for (; c < cols; c++) {
    const k0 = kr + <usize>c * ks;
    const sc = sr + (<usize>c << 2);
    flags = i16x8.max_u(flags, dotHalf(q, k0, d, dtype, sc));
    flags = i16x8.max_u(flags, dotHalf(q1, k0, d, dtype, sc + ss));
    flags = i16x8.max_u(flags, dotHalf(q2, k0, d, dtype, sc + 2 * ss));
    flags = i16x8.max_u(flags, dotHalf(q3, k0, d, dtype, sc + 3 * ss));
  }
  for (; c < BLOCK_K; c++) {
    const sc = sr + (<usize>c << 2);
    store<f32>(sc, 0);
    store<f32>(sc + ss, 0);
    store<f32>(sc + 2 * ss, 0);
    store<f32>(sc + 3 * ss, 0);
  }
  touched = v128.or(touched, touch);
  return noSpecials(flags);
}

/**
 * acc[r] += Σ_c w[r][c]·v_c for four rows (weights BLOCK_K apart, acc rows `dv` floats apart) over half
 * value rows (`vs` bytes apart): eight channels of all four rows per pass (eight accumulators), each value
 * vector loaded and converted once for the four. f16 weights come scaled by 2^112 (foldWeights on each
 * row). Returns false if an f16 value holds ±∞ or NaN: acc is then not usable, and the caller marks the
 * four rows for the host's f64 recompute — the staged path's pairs of rows read every key of the tile, so
 * their outputs would have been non-finite too (w·∞, 0·∞ = NaN).
 */
// @ts-ignore: decorator
@inline
function pvFourRowsHalf(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32, dtype: i32): bool {
  let flags = i16x8.splat(0);
  const ss = <usize>BLOCK_K << 2;
  const as = <usize>dv << 2;
  for (let x = 0; x < dv; x += 8) {
    const a0p = ar + (<usize>x << 2);
    const a1p = a0p + as;
    const a2p = a1p + as;
    const a3p = a2p + as;
    let a0 = v128.load(a0p);
    let b0 = v128.load(a0p, 16);
    let a1 = v128.load(a1p);
    let b1 = v128.load(a1p, 16);
    let a2 = v128.load(a2p);
    let b2 = v128.load(a2p, 16);
    let a3 = v128.load(a3p);
    let b3 = v128.load(a3p, 16);
    let row = vr + (<usize>x << 1);
    let s = sr;
    for (let c = 0; c < cols; c++, row += vs, s += 4) {
      const h = v128.load(row);
      flags = specials(flags, h, dtype);
      const l = lo(h, dtype);
      const u = hi(h, dtype);
      let w = v128.load32_splat(s);
      a0 = madd(w, l, a0);
      b0 = madd(w, u, b0);
      w = v128.load32_splat(s + ss);
      a1 = madd(w, l, a1);
      b1 = madd(w, u, b1);
      w = v128.load32_splat(s + 2 * ss);
      a2 = madd(w, l, a2);
      b2 = madd(w, u, b2);
      w = v128.load32_splat(s + 3 * ss);
      a3 = madd(w, l, a3);
      b3 = madd(w, u, b3);
    }
    v128.store(a0p, a0);
    v128.store(a0p, b0, 16);
    v128.store(a1p, a1);
    v128.store(a1p, b1, 16);
    v128.store(a2p, a2);
    v128.store(a2p, b2, 16);
    v128.store(a3p, a3);
    v128.store(a3p, b3, 16);
  }
  return noSpecials(flags);
}

/** scoresFourRowsHalf on bfloat16 keys (never false: bf16 needs no special case). */
export function scoresFourRowsBf16(
  q: usize,
  kr: usize,
  ks: usize,
  d: i32,
  cols: i32,
  sr: usize,
  vr: usize,
  vs: usize,
  vBytes: usize,
): bool {
  return scoresFourRowsHalf(q, kr, ks, d, cols, sr, DTYPE_BF16, vr, vs, vBytes);
}

/** scoresFourRowsHalf on float16 keys; the four `q` rows are foldQuery's. */
export function scoresFourRowsF16(
  q: usize,
  kr: usize,
  ks: usize,
  d: i32,
  cols: i32,
  sr: usize,
  vr: usize,
  vs: usize,
  vBytes: usize,
): bool {
  return scoresFourRowsHalf(q, kr, ks, d, cols, sr, DTYPE_F16, vr, vs, vBytes);
}

/** pvFourRowsHalf on bfloat16 values (never false: bf16 needs no special case). */
export function pvFourRowsBf16(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32): bool {
  return pvFourRowsHalf(sr, ar, vr, vs, cols, dv, DTYPE_BF16);
}

/** pvFourRowsHalf on float16 values; the four rows' weights scaled by 2^112 (foldWeights). */
export function pvFourRowsF16(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32): bool {
  return pvFourRowsHalf(sr, ar, vr, vs, cols, dv, DTYPE_F16);
}
