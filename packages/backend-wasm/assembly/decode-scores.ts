// Raw scores of one key tile for the decode mode's few rows (1 … DECODE_MAX_ROWS, head size a multiple
// of 4): every K row is loaded once per group of up to four query rows, and eight independent f32x4
// accumulators keep the multiply-adds from waiting on each other.
import { BLOCK_K, f32At } from "./attention-common";
import { hsum, madd } from "./simd";

/** q·k of one row against one key, four accumulators (a tail key). */
// @ts-ignore: decorator
@inline
function dot(q: usize, kr: usize, d: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let x = 0;
  for (; x + 8 <= d; x += 8) {
    const o = <usize>x << 2;
    a0 = madd(v128.load(q + o), v128.load(kr + o), a0);
    a1 = madd(v128.load(q + o, 16), v128.load(kr + o, 16), a1);
  }
  if (x < d) a0 = madd(v128.load(q + (<usize>x << 2)), v128.load(kr + (<usize>x << 2)), a0);
  return hsum(f32x4.add(a0, a1));
}

/** One row, four keys at a time, two accumulators per key (even and odd groups of 4 channels). */
// @ts-ignore: decorator
@inline
function oneRow(q: usize, kr: usize, ks: usize, d: i32, full: i32, sr: usize): void {
  let c = 0;
  for (; c + 4 <= full; c += 4) {
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
    let x = 0;
    for (; x + 8 <= d; x += 8) {
      const o = <usize>x << 2;
      const qa = v128.load(q + o);
      const qb = v128.load(q + o, 16);
      a0 = madd(qa, v128.load(k0 + o), a0);
      a1 = madd(qa, v128.load(k1 + o), a1);
      a2 = madd(qa, v128.load(k2 + o), a2);
      a3 = madd(qa, v128.load(k3 + o), a3);
      b0 = madd(qb, v128.load(k0 + o, 16), b0);
      b1 = madd(qb, v128.load(k1 + o, 16), b1);
      b2 = madd(qb, v128.load(k2 + o, 16), b2);
      b3 = madd(qb, v128.load(k3 + o, 16), b3);
    }
    if (x < d) {
      const o = <usize>x << 2;
      const qa = v128.load(q + o);
      a0 = madd(qa, v128.load(k0 + o), a0);
      a1 = madd(qa, v128.load(k1 + o), a1);
      a2 = madd(qa, v128.load(k2 + o), a2);
      a3 = madd(qa, v128.load(k3 + o), a3);
    }
    store<f32>(f32At(sr, c), hsum(f32x4.add(a0, b0)));
    store<f32>(f32At(sr, c + 1), hsum(f32x4.add(a1, b1)));
    store<f32>(f32At(sr, c + 2), hsum(f32x4.add(a2, b2)));
    store<f32>(f32At(sr, c + 3), hsum(f32x4.add(a3, b3)));
  }
  for (; c < full; c++) store<f32>(f32At(sr, c), dot(q, kr + <usize>c * ks, d));
}

/** Two rows, four keys at a time (eight accumulators, each key load feeding both rows). */
// @ts-ignore: decorator
@inline
function twoRows(q0: usize, q1: usize, kr: usize, ks: usize, d: i32, full: i32, s0: usize, s1: usize): void {
  let c = 0;
  for (; c + 4 <= full; c += 4) {
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
    for (let x = 0; x < d; x += 4) {
      const o = <usize>x << 2;
      const qa = v128.load(q0 + o);
      const qb = v128.load(q1 + o);
      const v0 = v128.load(k0 + o);
      const v1 = v128.load(k1 + o);
      const v2 = v128.load(k2 + o);
      const v3 = v128.load(k3 + o);
      a0 = madd(qa, v0, a0);
      a1 = madd(qa, v1, a1);
      a2 = madd(qa, v2, a2);
      a3 = madd(qa, v3, a3);
      b0 = madd(qb, v0, b0);
      b1 = madd(qb, v1, b1);
      b2 = madd(qb, v2, b2);
      b3 = madd(qb, v3, b3);
    }
    v128.store(s0 + (<usize>c << 2), hsum4(a0, a1, a2, a3));
    v128.store(s1 + (<usize>c << 2), hsum4(b0, b1, b2, b3));
  }
  for (; c < full; c++) {
    store<f32>(f32At(s0, c), dot(q0, kr + <usize>c * ks, d));
    store<f32>(f32At(s1, c), dot(q1, kr + <usize>c * ks, d));
  }
}

/** The lane sums of four vectors as one vector [Σa, Σb, Σc, Σd]. */
// @ts-ignore: decorator
@inline
export function hsum4(a: v128, b: v128, c: v128, e: v128): v128 {
  const ab = f32x4.add(f32x4.shuffle(a, b, 0, 4, 2, 6), f32x4.shuffle(a, b, 1, 5, 3, 7));
  const ce = f32x4.add(f32x4.shuffle(c, e, 0, 4, 2, 6), f32x4.shuffle(c, e, 1, 5, 3, 7));
  return f32x4.add(f32x4.shuffle(ab, ce, 0, 1, 4, 5), f32x4.shuffle(ab, ce, 2, 3, 6, 7));
}

/** Four rows, two keys at a time (eight accumulators, each key load feeding four rows). */
// @ts-ignore: decorator
@inline
function fourRows(
  q: usize,
  qs: usize,
  kr: usize,
  ks: usize,
  d: i32,
  full: i32,
  sr: usize,
  vr: usize,
  vs: usize,
  vBytes: usize,
): void {
  let touch = i32x4.splat(0);
  const lastLine = vBytes - 16;
  const q1 = q + qs;
  const q2 = q1 + qs;
  const q3 = q2 + qs;
  const ss = <usize>BLOCK_K << 2;
  let c = 0;
  for (; c + 2 <= full; c += 2) {
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
    for (let x = 0; x < d; x += 4) {
      const o = <usize>x << 2;
      // Every other step touches line x / 16 of key (x / 8) % 2's V row (see decode-half.ts).
      if (vr != 0 && (x & 4) == 0) {
        const line = min((<usize>x >> 4) << 6, lastLine);
        touch = v128.or(touch, v128.load(vr + (<usize>c + ((<usize>x >> 3) & 1)) * vs + line));
      }
      const v0 = v128.load(k0 + o);
      const v1 = v128.load(k1 + o);
      const x0 = v128.load(q + o);
      a0 = madd(x0, v0, a0);
      b0 = madd(x0, v1, b0);
      const x1 = v128.load(q1 + o);
      a1 = madd(x1, v0, a1);
      b1 = madd(x1, v1, b1);
      const x2 = v128.load(q2 + o);
      a2 = madd(x2, v0, a2);
      b2 = madd(x2, v1, b2);
      const x3 = v128.load(q3 + o);
      a3 = madd(x3, v0, a3);
      b3 = madd(x3, v1, b3);
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
  for (; c < full; c++) {
    const k0 = kr + <usize>c * ks;
    store<f32>(f32At(sr, c), dot(q, k0, d));
    store<f32>(f32At(sr, BLOCK_K + c), dot(q1, k0, d));
    store<f32>(f32At(sr, 2 * BLOCK_K + c), dot(q2, k0, d));
    store<f32>(f32At(sr, 3 * BLOCK_K + c), dot(q3, k0, d));
  }
  touched = v128.or(touched, touch);
}

/** Where the V lines fourRows touches end up, so that the loads are kept. Never read. */
let touched: v128 = i32x4.splat(0);

/**
 * scores[r][c] = q_r·k_c for rows [0, rows) and keys [0, cols) of the tile whose first key row is at
 * `kr` (rows `kStride` floats apart); keys past `cols` score 0 (removed later). q rows are `d` apart.
 */
export function decodeScores(
  qb: usize,
  kr: usize,
  kStride: i32,
  d: i32,
  rows: i32,
  cols: i32,
  scores: usize,
  vr: usize = 0,
  vs: usize = 0,
  vBytes: usize = 0,
): void {
  const ks = <usize>kStride << 2;
  const qs = <usize>d << 2;
  const ss = <usize>BLOCK_K << 2;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    // The tile's V rows are touched once, by the first four rows' pass.
    const touch = r == 0 ? vr : 0;
    fourRows(qb + <usize>r * qs, qs, kr, ks, d, cols, scores + <usize>r * ss, touch, vs, vBytes);
  }
  if (rows - r >= 2) {
    const q0 = qb + <usize>r * qs;
    const s0 = scores + <usize>r * ss;
    twoRows(q0, q0 + qs, kr, ks, d, cols, s0, s0 + ss);
    r += 2;
  }
  if (rows - r == 1) oneRow(qb + <usize>r * qs, kr, ks, d, cols, scores + <usize>r * ss);
  for (let rr = 0; rr < rows; rr++) {
    for (let c = cols; c < BLOCK_K; c++) store<f32>(f32At(scores, rr * BLOCK_K + c), 0);
  }
}
