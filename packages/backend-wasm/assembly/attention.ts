import { expNeg, hmax, hsum, madd } from "./simd";

// Layout of the parameter block the host writes before each call (i32 words; SCALE and SOFTCAP are f32).
const BATCH = 0;
const QHEADS = 1;
const KVHEADS = 2;
const QLEN = 3;
const KVLEN = 4;
const D = 5;
const DV = 6;
const QOFFSET = 7;
const CAUSAL = 8;
const WINDOW = 9;
const Q = 10;
const K = 11;
const V = 12;
const OUT = 13;
const LSE = 14;
const QS = 15; // q strides: batch, seq, head (elements)
const KS = 18;
const VS = 21;
const OS = 24;
const MASK = 27;
const MASK_BOOL = 28;
const MS = 29; // mask strides: batch, head, query
const ALIBI = 32;
const SCRATCH = 33;
const SCALE = 34;
const SOFTCAP = 35;
const WORK_FIRST = 36;
const WORK_STEP = 37;
const WORK_COUNTER = 38; // address of a shared i32: threads take the next unit from it (0 = use FIRST/STEP)

/** Query rows per tile. */
export const BLOCK_Q: i32 = 32;
/** Keys per tile: 8 f32x4 accumulators per score row. */
export const BLOCK_K: i32 = 32;

/** Claims the next work unit from the shared counter (atomically in the threads build). */
// @ts-ignore: decorator
@inline
function nextUnit(counter: usize): i32 {
  if (ASC_FEATURE_THREADS) return atomic.add<i32>(counter, 1);
  const u = load<i32>(counter);
  store<i32>(counter, u + 1);
  return u;
}

/** Bytes of scratch one thread needs for head sizes d and dv. */
export function attentionScratchBytes(d: i32, dv: i32): i32 {
  return (d * BLOCK_K + BLOCK_Q * d + BLOCK_Q * BLOCK_K + BLOCK_Q * dv + 5 * BLOCK_Q) * 4 + 64;
}

// @ts-ignore: decorator
@inline
function param(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline
function paramF(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline
function f32At(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** −0 in every lane: the weight of a removed key (masked, out of bounds, score −∞), told apart from an
 * underflowed +0 weight, whose key still takes part (a NaN or ∞ in its v must reach the output). */
const REMOVED: v128 = i32x4.splat(0x80000000);

// @ts-ignore: decorator
@inline
function fillRemoved(sr: usize): void {
  for (let c = 0; c < BLOCK_K; c += 4) v128.store(sr + (<usize>c << 2), REMOVED);
}

/**
 * Tiled attention with an online softmax over the work units this thread owns (units first,
 * first + step, …; a unit is one block of BLOCK_Q query rows of one (batch, head)). Only the key tiles
 * that causal / window bounds leave visible are visited. Scratch: K tile transposed [d][BLOCK_K],
 * scores [BLOCK_Q][BLOCK_K], accumulators [BLOCK_Q][dv], row max and row sum.
 *
 * f32 can go wrong where the f64 reference does not: finite q·k past the f32 range, a score overflowing to
 * −∞ (it would pass for masked), NaN. A row that meets any of these is marked bad, skips the rest of the
 * work and ends with NaN output and lse; the host recomputes exactly those rows in f64. The lse is
 * the one signal: NaN or +∞ there means "recompute this row", −∞ means fully masked.
 */
export function attention(p: usize): void {
  const batch = param(p, BATCH);
  const qHeads = param(p, QHEADS);
  const kvHeads = param(p, KVHEADS);
  const qLen = param(p, QLEN);
  const kvLen = param(p, KVLEN);
  const d = param(p, D);
  const dv = param(p, DV);
  const qOffset = param(p, QOFFSET);
  const causal = param(p, CAUSAL) != 0;
  const window = param(p, WINDOW);
  const q = <usize>param(p, Q);
  const k = <usize>param(p, K);
  const v = <usize>param(p, V);
  const out = <usize>param(p, OUT);
  const lse = <usize>param(p, LSE);
  const mask = <usize>param(p, MASK);
  const maskBool = param(p, MASK_BOOL) != 0;
  const alibi = <usize>param(p, ALIBI);
  const scale = paramF(p, SCALE);
  const softcap = paramF(p, SOFTCAP);
  const plain = mask == 0 && alibi == 0 && softcap == 0;

  const scratch = (<usize>param(p, SCRATCH) + 15) & ~(<usize>15);
  const kt = scratch;
  const qb = kt + (<usize>(d * BLOCK_K) << 2);
  const scores = qb + (<usize>(BLOCK_Q * d) << 2);
  const acc = scores + (<usize>(BLOCK_Q * BLOCK_K) << 2);
  const rowMax = acc + (<usize>(BLOCK_Q * dv) << 2);
  const rowSum = rowMax + (<usize>BLOCK_Q << 2);
  const rowI = rowSum + (<usize>BLOCK_Q << 2); // query index i of each packed row
  const rowH = rowI + (<usize>BLOCK_Q << 2); // query head h of each packed row
  const rowBad = rowH + (<usize>BLOCK_Q << 2); // 1: the row needs the host's f64 recompute

  // Query heads that share a kv head are packed as rows of one block (row rr: position rr / group,
  // head kh·group + rr % group), so each K/V tile is loaded once for the whole group.
  const group = qHeads / kvHeads;
  const packed = group * qLen;
  const blocks = (packed + BLOCK_Q - 1) / BLOCK_Q;
  const units = batch * kvHeads * blocks;
  const negInf = <f32>-Infinity;
  const qStride = param(p, QS + 1);
  const kStride = param(p, KS + 1);
  const vStride = param(p, VS + 1);

  // Work units are claimed from a shared counter when there is one, so a faster thread simply takes more
  // of them; otherwise this thread takes first, first + step, ….
  const counter = <usize>param(p, WORK_COUNTER);
  let u = param(p, WORK_FIRST);
  if (counter != 0) u = nextUnit(counter);
  for (; u < units; u = counter != 0 ? nextUnit(counter) : u + param(p, WORK_STEP)) {
    const b = u / (kvHeads * blocks);
    const kh = (u / blocks) % kvHeads;
    const rr0 = (u % blocks) * BLOCK_Q;
    const rows = min(BLOCK_Q, packed - rr0);
    const kBase = b * param(p, KS) + kh * param(p, KS + 2);
    const vBase = b * param(p, VS) + kh * param(p, VS + 2);

    for (let r = 0; r < rows; r++) {
      const rr = rr0 + r;
      const i = rr / group;
      const h = kh * group + (rr % group);
      store<i32>(rowI + (<usize>r << 2), i);
      store<i32>(rowH + (<usize>r << 2), h);
      store<f32>(f32At(rowMax, r), negInf);
      store<f32>(f32At(rowSum, r), 0);
      store<i32>(rowBad + (<usize>r << 2), 0);
      // q rows of the block, pre-multiplied by the scale, contiguous.
      const qr = q + (<usize>(b * param(p, QS) + h * param(p, QS + 2) + i * qStride) << 2);
      for (let x = 0; x < d; x++) store<f32>(f32At(qb, r * d + x), load<f32>(f32At(qr, x)) * scale);
    }
    memory.fill(acc, 0, <usize>(rows * dv) << 2);

    // Visible keys of the block: rows further down see at least as far.
    let lo = 0;
    let hi = kvLen;
    if (causal) {
      const pFirst = qOffset + load<i32>(rowI);
      const pLast = qOffset + load<i32>(rowI + (<usize>(rows - 1) << 2));
      lo = window > 0 ? max(0, pFirst - window + 1) : 0;
      hi = max(lo, min(kvLen, pLast + 1));
    }

    for (let c0 = lo; c0 < hi; c0 += BLOCK_K) {
      const cols = min(BLOCK_K, hi - c0);
      if (rows <= 4) {
        // Few rows (decode): dot products straight from the K rows, four rows per key load.
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
      } else {
      // K tile transposed: kt[x][c] = k[c0 + c][x]; missing columns are zero (masked below).
      for (let c = 0; c < BLOCK_K; c++) {
        if (c < cols) {
          const kr = k + (<usize>(kBase + (c0 + c) * kStride) << 2);
          for (let x = 0; x < d; x++) store<f32>(f32At(kt, x * BLOCK_K + c), load<f32>(kr + (<usize>x << 2)));
        } else {
          for (let x = 0; x < d; x++) store<f32>(f32At(kt, x * BLOCK_K + c), 0);
        }
      }

      // Scores: two query rows × 16 keys per pass (8 accumulators); each K^T load feeds two rows.
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

      for (let r = 0; r < rows; r++) {
        const sr = scores + (<usize>(r * BLOCK_K) << 2);
        // This row's own bounds inside the tile; everything else −∞.
        const i = load<i32>(rowI + (<usize>r << 2));
        const h = load<i32>(rowH + (<usize>r << 2));
        let from = 0;
        let to = cols;
        if (causal) {
          const pos = qOffset + i;
          const rlo = window > 0 ? max(0, pos - window + 1) : 0;
          from = max(0, rlo - c0);
          to = min(cols, min(kvLen, pos + 1) - c0);
        }
        const bad = rowBad + (<usize>r << 2);
        if (from >= to || load<i32>(bad) != 0) {
          fillRemoved(sr);
          continue;
        }
        // Raw scores: their sum is finite only if each is (a finite sum that overflows only costs a
        // needless recompute). NaN, ±∞ here come from overflow or non-finite inputs.
        const raw = hsum(
          f32x4.add(
            f32x4.add(f32x4.add(v128.load(sr), v128.load(sr, 16)), f32x4.add(v128.load(sr, 32), v128.load(sr, 48))),
            f32x4.add(f32x4.add(v128.load(sr, 64), v128.load(sr, 80)), f32x4.add(v128.load(sr, 96), v128.load(sr, 112))),
          ),
        );
        if (!(Mathf.abs(raw) < <f32>Infinity)) {
          store<i32>(bad, 1);
          fillRemoved(sr);
          continue;
        }
        for (let c = 0; c < from; c++) store<f32>(f32At(sr, c), negInf);
        for (let c = to; c < BLOCK_K; c++) store<f32>(f32At(sr, c), negInf);
        if (!plain) {
          const pos = qOffset + i;
          const maskRow = b * param(p, MS) + h * param(p, MS + 1) + i * param(p, MS + 2) + c0;
          let overflow = false;
          for (let c = from; c < to; c++) {
            let s = load<f32>(f32At(sr, c));
            let removed = false;
            if (softcap != 0) s = softcap * Mathf.tanh(s / softcap);
            if (alibi) s += load<f32>(f32At(alibi, h)) * <f32>(c0 + c - pos);
            if (mask) {
              if (maskBool) {
                removed = load<u8>(mask + <usize>(maskRow + c)) == 0;
                if (removed) s = negInf;
              } else {
                const m = load<f32>(f32At(mask, maskRow + c));
                removed = m == negInf;
                s += m;
              }
            }
            // −∞ from adding finite values (a score near −f32max plus a mask): not a removed key.
            if (s == negInf && !removed) overflow = true;
            store<f32>(f32At(sr, c), s);
          }
          if (overflow) {
            store<i32>(bad, 1);
            fillRemoved(sr);
            continue;
          }
        }

        const w0 = v128.load(sr);
        const w1 = v128.load(sr, 16);
        const w2 = v128.load(sr, 32);
        const w3 = v128.load(sr, 48);
        const w4 = v128.load(sr, 64);
        const w5 = v128.load(sr, 80);
        const w6 = v128.load(sr, 96);
        const w7 = v128.load(sr, 112);
        const tileMax = hmax(
          f32x4.max(f32x4.max(f32x4.max(w0, w1), f32x4.max(w2, w3)), f32x4.max(f32x4.max(w4, w5), f32x4.max(w6, w7))),
        );
        if (tileMax == negInf) {
          fillRemoved(sr);
          continue;
        }
        // NaN or +∞ (a +∞ mask or ALiBi overflow): the reference's answer is NaN or needs f64.
        if (!(tileMax < <f32>Infinity)) {
          store<i32>(bad, 1);
          fillRemoved(sr);
          continue;
        }
        const oldMax = load<f32>(f32At(rowMax, r));
        const newMax = max(oldMax, tileMax);
        if (newMax > oldMax && oldMax != negInf) {
          const correction = Mathf.exp(oldMax - newMax);
          store<f32>(f32At(rowSum, r), load<f32>(f32At(rowSum, r)) * correction);
          const ar = acc + (<usize>(r * dv) << 2);
          const vc = f32x4.splat(correction);
          let x = 0;
          for (; x + 4 <= dv; x += 4) v128.store(ar + (<usize>x << 2), f32x4.mul(v128.load(ar + (<usize>x << 2)), vc));
          for (; x < dv; x++) store<f32>(f32At(ar, x), load<f32>(f32At(ar, x)) * correction);
        }
        store<f32>(f32At(rowMax, r), newMax);
        const m = f32x4.splat(newMax);
        let p0 = expNeg(f32x4.sub(w0, m));
        let p1 = expNeg(f32x4.sub(w1, m));
        let p2 = expNeg(f32x4.sub(w2, m));
        let p3 = expNeg(f32x4.sub(w3, m));
        let p4 = expNeg(f32x4.sub(w4, m));
        let p5 = expNeg(f32x4.sub(w5, m));
        let p6 = expNeg(f32x4.sub(w6, m));
        let p7 = expNeg(f32x4.sub(w7, m));
        if ((rows & 1) != 0 && r == rows - 1) {
          // The odd last row takes the P·V path that skips removed keys: mark them (score −∞) with −0.
          const ni = f32x4.splat(negInf);
          p0 = v128.or(p0, v128.and(f32x4.eq(w0, ni), REMOVED));
          p1 = v128.or(p1, v128.and(f32x4.eq(w1, ni), REMOVED));
          p2 = v128.or(p2, v128.and(f32x4.eq(w2, ni), REMOVED));
          p3 = v128.or(p3, v128.and(f32x4.eq(w3, ni), REMOVED));
          p4 = v128.or(p4, v128.and(f32x4.eq(w4, ni), REMOVED));
          p5 = v128.or(p5, v128.and(f32x4.eq(w5, ni), REMOVED));
          p6 = v128.or(p6, v128.and(f32x4.eq(w6, ni), REMOVED));
          p7 = v128.or(p7, v128.and(f32x4.eq(w7, ni), REMOVED));
        }
        v128.store(sr, p0);
        v128.store(sr, p1, 16);
        v128.store(sr, p2, 32);
        v128.store(sr, p3, 48);
        v128.store(sr, p4, 64);
        v128.store(sr, p5, 80);
        v128.store(sr, p6, 96);
        v128.store(sr, p7, 112);
        const sum = f32x4.add(
          f32x4.add(f32x4.add(p0, p1), f32x4.add(p2, p3)),
          f32x4.add(f32x4.add(p4, p5), f32x4.add(p6, p7)),
        );
        store<f32>(f32At(rowSum, r), load<f32>(f32At(rowSum, r)) + hsum(sum));
      }

      // acc += P·V, two rows × 16 channels per pass: each value vector loaded once feeds both rows.
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

    // Normalise and store; a row that saw no key stays zero (lse −∞). A bad row, or one whose output is
    // not finite (v near the f32 limit, NaN or ∞ in v), gets lse NaN: the host looks at the lse alone.
    for (let r = 0; r < rows; r++) {
      const i = load<i32>(rowI + (<usize>r << 2));
      const h = load<i32>(rowH + (<usize>r << 2));
      const o = out + (<usize>(b * param(p, OS) + i * param(p, OS + 1) + h * param(p, OS + 2)) << 2);
      const sum = load<f32>(f32At(rowSum, r));
      const bad = load<i32>(rowBad + (<usize>r << 2)) != 0;
      const inv: f32 = bad ? <f32>NaN : sum > 0 ? <f32>1 / sum : 0;
      const ar = acc + (<usize>(r * dv) << 2);
      let check: f32 = 0; // finite only if every output is (a finite overflow only costs a recompute)
      for (let x = 0; x < dv; x++) {
        const y = load<f32>(f32At(ar, x)) * inv;
        check += y;
        store<f32>(f32At(o, x), y);
      }
      if (lse) {
        let l: f32 = sum > 0 ? load<f32>(f32At(rowMax, r)) + Mathf.log(sum) : negInf;
        if (!(Mathf.abs(check) < <f32>Infinity)) l = <f32>NaN;
        store<f32>(f32At(lse, (b * qHeads + h) * qLen + i), l);
      }
    }
  }
}
