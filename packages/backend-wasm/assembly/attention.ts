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

/** Query rows per tile. */
export const BLOCK_Q: i32 = 32;
/** Keys per tile: 8 f32x4 accumulators per score row. */
export const BLOCK_K: i32 = 32;

/** Bytes of scratch one thread needs for head sizes d and dv. */
export function attentionScratchBytes(d: i32, dv: i32): i32 {
  return (d * BLOCK_K + BLOCK_Q * BLOCK_K + BLOCK_Q * dv + 2 * BLOCK_Q) * 4 + 64;
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

/**
 * Tiled attention with an online softmax over the work units this thread owns (units first,
 * first + step, …; a unit is one block of BLOCK_Q query rows of one (batch, head)). Only the key tiles
 * that causal / window bounds leave visible are visited. Scratch: K tile transposed [d][BLOCK_K],
 * scores [BLOCK_Q][BLOCK_K], accumulators [BLOCK_Q][dv], row max and row sum.
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
  const scores = kt + (<usize>(d * BLOCK_K) << 2);
  const acc = scores + (<usize>(BLOCK_Q * BLOCK_K) << 2);
  const rowMax = acc + (<usize>(BLOCK_Q * dv) << 2);
  const rowSum = rowMax + (<usize>BLOCK_Q << 2);

  const blocks = (qLen + BLOCK_Q - 1) / BLOCK_Q;
  const units = batch * qHeads * blocks;
  const negInf = <f32>-Infinity;

  for (let u = param(p, WORK_FIRST); u < units; u += param(p, WORK_STEP)) {
    const b = u / (qHeads * blocks);
    const h = (u / blocks) % qHeads;
    const r0 = (u % blocks) * BLOCK_Q;
    const rows = min(BLOCK_Q, qLen - r0);
    const kh = (h * kvHeads) / qHeads;
    const qBase = b * param(p, QS) + h * param(p, QS + 2);
    const kBase = b * param(p, KS) + kh * param(p, KS + 2);
    const vBase = b * param(p, VS) + kh * param(p, VS + 2);
    const qStride = param(p, QS + 1);
    const kStride = param(p, KS + 1);
    const vStride = param(p, VS + 1);
    const slope: f32 = alibi ? load<f32>(f32At(alibi, h)) : 0;

    for (let r = 0; r < rows; r++) {
      store<f32>(f32At(rowMax, r), negInf);
      store<f32>(f32At(rowSum, r), 0);
    }
    memory.fill(acc, 0, <usize>(rows * dv) << 2);

    // Visible keys of the block: rows further down see at least as far.
    let lo = 0;
    let hi = kvLen;
    if (causal) {
      const pFirst = qOffset + r0;
      const pLast = qOffset + r0 + rows - 1;
      lo = window > 0 ? max(0, pFirst - window + 1) : 0;
      hi = max(lo, min(kvLen, pLast + 1));
    }

    for (let c0 = lo; c0 < hi; c0 += BLOCK_K) {
      const cols = min(BLOCK_K, hi - c0);
      // K tile transposed: kt[x][c] = k[c0 + c][x]; missing columns are zero (masked below).
      for (let c = 0; c < BLOCK_K; c++) {
        if (c < cols) {
          const kr = k + (<usize>(kBase + (c0 + c) * kStride) << 2);
          for (let x = 0; x < d; x++) store<f32>(f32At(kt, x * BLOCK_K + c), load<f32>(kr + (<usize>x << 2)));
        } else {
          for (let x = 0; x < d; x++) store<f32>(f32At(kt, x * BLOCK_K + c), 0);
        }
      }

      for (let r = 0; r < rows; r++) {
        // Scores of row r against the 32 keys: one splat of q·scale feeds 8 vector multiply-adds.
        const qr = q + (<usize>(qBase + (r0 + r) * qStride) << 2);
        let s0 = f32x4.splat(0);
        let s1 = f32x4.splat(0);
        let s2 = f32x4.splat(0);
        let s3 = f32x4.splat(0);
        let s4 = f32x4.splat(0);
        let s5 = f32x4.splat(0);
        let s6 = f32x4.splat(0);
        let s7 = f32x4.splat(0);
        for (let x = 0; x < d; x++) {
          const qx = f32x4.splat(load<f32>(qr + (<usize>x << 2)) * scale);
          const kx = kt + (<usize>(x * BLOCK_K) << 2);
          s0 = madd(qx, v128.load(kx), s0);
          s1 = madd(qx, v128.load(kx, 16), s1);
          s2 = madd(qx, v128.load(kx, 32), s2);
          s3 = madd(qx, v128.load(kx, 48), s3);
          s4 = madd(qx, v128.load(kx, 64), s4);
          s5 = madd(qx, v128.load(kx, 80), s5);
          s6 = madd(qx, v128.load(kx, 96), s6);
          s7 = madd(qx, v128.load(kx, 112), s7);
        }
        const sr = scores + (<usize>(r * BLOCK_K) << 2);
        v128.store(sr, s0);
        v128.store(sr, s1, 16);
        v128.store(sr, s2, 32);
        v128.store(sr, s3, 48);
        v128.store(sr, s4, 64);
        v128.store(sr, s5, 80);
        v128.store(sr, s6, 96);
        v128.store(sr, s7, 112);

        // This row's own bounds inside the tile; everything else −∞.
        const i = r0 + r;
        let from = 0;
        let to = cols;
        if (causal) {
          const pos = qOffset + i;
          const rlo = window > 0 ? max(0, pos - window + 1) : 0;
          from = max(0, rlo - c0);
          to = min(cols, min(kvLen, pos + 1) - c0);
        }
        if (from >= to) {
          memory.fill(sr, 0, <usize>BLOCK_K << 2);
          continue;
        }
        for (let c = 0; c < from; c++) store<f32>(f32At(sr, c), negInf);
        for (let c = to; c < BLOCK_K; c++) store<f32>(f32At(sr, c), negInf);
        if (!plain) {
          const pos = qOffset + i;
          const maskRow = b * param(p, MS) + h * param(p, MS + 1) + i * param(p, MS + 2) + c0;
          for (let c = from; c < to; c++) {
            let s = load<f32>(f32At(sr, c));
            if (softcap != 0) s = softcap * Mathf.tanh(s / softcap);
            if (alibi) s += slope * <f32>(c0 + c - pos);
            if (mask) {
              if (maskBool) {
                if (load<u8>(mask + <usize>(maskRow + c)) == 0) s = negInf;
              } else s += load<f32>(f32At(mask, maskRow + c));
            }
            store<f32>(f32At(sr, c), s);
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
          memory.fill(sr, 0, <usize>BLOCK_K << 2);
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
        const p0 = expNeg(f32x4.sub(w0, m));
        const p1 = expNeg(f32x4.sub(w1, m));
        const p2 = expNeg(f32x4.sub(w2, m));
        const p3 = expNeg(f32x4.sub(w3, m));
        const p4 = expNeg(f32x4.sub(w4, m));
        const p5 = expNeg(f32x4.sub(w5, m));
        const p6 = expNeg(f32x4.sub(w6, m));
        const p7 = expNeg(f32x4.sub(w7, m));
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

      // acc += P·V: for each row, 32 output channels at a time; one splat of a weight feeds 8 vectors.
      for (let r = 0; r < rows; r++) {
        const sr = scores + (<usize>(r * BLOCK_K) << 2);
        const ar = acc + (<usize>(r * dv) << 2);
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
          for (let c = 0; c < cols; c++) {
            const w = load<f32>(f32At(sr, c));
            if (w == 0) continue;
            const pw = f32x4.splat(w);
            const vr = v + (<usize>(vBase + (c0 + c) * vStride + x) << 2);
            a0 = madd(pw, v128.load(vr), a0);
            a1 = madd(pw, v128.load(vr, 16), a1);
            a2 = madd(pw, v128.load(vr, 32), a2);
            a3 = madd(pw, v128.load(vr, 48), a3);
            a4 = madd(pw, v128.load(vr, 64), a4);
            a5 = madd(pw, v128.load(vr, 80), a5);
            a6 = madd(pw, v128.load(vr, 96), a6);
            a7 = madd(pw, v128.load(vr, 112), a7);
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
        for (; x + 4 <= dv; x += 4) {
          const ax = ar + (<usize>x << 2);
          let a0 = v128.load(ax);
          for (let c = 0; c < cols; c++) {
            const w = load<f32>(f32At(sr, c));
            if (w == 0) continue;
            a0 = madd(f32x4.splat(w), v128.load(v + (<usize>(vBase + (c0 + c) * vStride + x) << 2)), a0);
          }
          v128.store(ax, a0);
        }
        for (; x < dv; x++) {
          let a: f32 = load<f32>(f32At(ar, x));
          for (let c = 0; c < cols; c++) {
            const w = load<f32>(f32At(sr, c));
            if (w == 0) continue;
            a += w * load<f32>(f32At(v, vBase + (c0 + c) * vStride + x));
          }
          store<f32>(f32At(ar, x), a);
        }
      }
    }

    // Normalise and store; a row that saw no key stays zero (lse −∞).
    for (let r = 0; r < rows; r++) {
      const i = r0 + r;
      const o = out + (<usize>(b * param(p, OS) + i * param(p, OS + 1) + h * param(p, OS + 2)) << 2);
      const sum = load<f32>(f32At(rowSum, r));
      const inv: f32 = sum > 0 ? <f32>1 / sum : 0;
      const ar = acc + (<usize>(r * dv) << 2);
      for (let x = 0; x < dv; x++) store<f32>(f32At(o, x), load<f32>(f32At(ar, x)) * inv);
      if (lse) {
        store<f32>(f32At(lse, (b * qHeads + h) * qLen + i), sum > 0 ? load<f32>(f32At(rowMax, r)) + Mathf.log(sum) : negInf);
      }
    }
  }
}
