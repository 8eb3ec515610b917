import { type AttentionKernelPlan, kvHeadOf, visibleKeys } from "@ropekit/core";

/** Query rows per tile: each key row loaded from memory serves this many queries. */
const BLOCK_Q = 32;
/** Keys per tile: the score tile is BLOCK_Q × BLOCK_K numbers, whatever the sequence length. */
const BLOCK_K = 64;

/** Reusable buffers of one attention call: O(BLOCK_Q·(BLOCK_K + vHeadDim)), independent of N. */
interface Scratch {
  readonly scores: Float64Array;
  readonly acc: Float64Array;
  readonly rowMax: Float64Array;
  readonly rowSum: Float64Array;
}

function scratchFor(vHeadDim: number): Scratch {
  return {
    scores: new Float64Array(BLOCK_Q * BLOCK_K),
    acc: new Float64Array(BLOCK_Q * vHeadDim),
    rowMax: new Float64Array(BLOCK_Q),
    rowSum: new Float64Array(BLOCK_Q),
  };
}

/**
 * Tiled attention with an online softmax (flash-attention style) in f32 storage / f64 arithmetic.
 * For each (batch, head, block of query rows) it walks only the key tiles that the causal / window
 * bounds leave visible — fully masked tiles are never computed — keeping a running max, sum and
 * weighted value sum per row. Memory: the output plus one `Scratch`; no qLen×kvLen buffer.
 */
export function flashAttention(
  plan: AttentionKernelPlan,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  outStrides: { batch: number; seq: number; head: number },
  lse: Float32Array | undefined,
): void {
  const { batch, qHeads, kvHeads, qLen, headDim: d, vHeadDim: dv, scale } = plan;
  const qs = plan.q;
  const ks = plan.k;
  const vs = plan.v;
  const { scores, acc, rowMax, rowSum } = scratchFor(dv);
  const softcap = plan.softcap;
  const alibi = plan.alibiSlopes;
  const mask = plan.mask;
  const plain = softcap === 0 && alibi === undefined && mask === undefined;
  const { causal, qOffset, window, kvLen } = plan;

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const kh = kvHeadOf(h, qHeads, kvHeads);
      const kBase = b * ks.strideBatch + kh * ks.strideHead;
      const vBase = b * vs.strideBatch + kh * vs.strideHead;
      const slope = alibi ? (alibi[h] as number) : 0;

      for (let r0 = 0; r0 < qLen; r0 += BLOCK_Q) {
        const rows = Math.min(BLOCK_Q, qLen - r0);
        rowMax.fill(Number.NEGATIVE_INFINITY);
        rowSum.fill(0);
        acc.fill(0, 0, rows * dv);
        // Visible key range of the whole block: rows further down see at least as far.
        const lo = visibleKeys(plan, r0).lo;
        const hi = visibleKeys(plan, r0 + rows - 1).hi;

        for (let c0 = lo; c0 < hi; c0 += BLOCK_K) {
          const cols = Math.min(BLOCK_K, hi - c0);

          // Scores S = Q·Kᵀ for the tile in 4×2 register blocks: per channel, 4 query and 2 key loads feed
          // 8 multiply-adds.
          let r = 0;
          for (; r + 4 <= rows; r += 4) {
            const q0 = b * qs.strideBatch + (r0 + r) * qs.strideSeq + h * qs.strideHead;
            const q1 = q0 + qs.strideSeq;
            const q2 = q1 + qs.strideSeq;
            const q3 = q2 + qs.strideSeq;
            let c = 0;
            for (; c + 2 <= cols; c += 2) {
              const ka = kBase + (c0 + c) * ks.strideSeq;
              const kb = ka + ks.strideSeq;
              let s0a = 0;
              let s1a = 0;
              let s2a = 0;
              let s3a = 0;
              let s0b = 0;
              let s1b = 0;
              let s2b = 0;
              let s3b = 0;
              for (let x = 0; x < d; x++) {
                const kxa = k[ka + x] as number;
                const kxb = k[kb + x] as number;
                const a0 = q[q0 + x] as number;
                const a1 = q[q1 + x] as number;
                const a2 = q[q2 + x] as number;
                const a3 = q[q3 + x] as number;
                s0a += a0 * kxa;
                s1a += a1 * kxa;
                s2a += a2 * kxa;
                s3a += a3 * kxa;
                s0b += a0 * kxb;
                s1b += a1 * kxb;
                s2b += a2 * kxb;
                s3b += a3 * kxb;
              }
              const t = r * BLOCK_K + c;
              scores[t] = s0a * scale;
              scores[t + BLOCK_K] = s1a * scale;
              scores[t + 2 * BLOCK_K] = s2a * scale;
              scores[t + 3 * BLOCK_K] = s3a * scale;
              scores[t + 1] = s0b * scale;
              scores[t + 1 + BLOCK_K] = s1b * scale;
              scores[t + 1 + 2 * BLOCK_K] = s2b * scale;
              scores[t + 1 + 3 * BLOCK_K] = s3b * scale;
            }
            for (; c < cols; c++) {
              const ko = kBase + (c0 + c) * ks.strideSeq;
              let s0 = 0;
              let s1 = 0;
              let s2 = 0;
              let s3 = 0;
              for (let x = 0; x < d; x++) {
                const kx = k[ko + x] as number;
                s0 += (q[q0 + x] as number) * kx;
                s1 += (q[q1 + x] as number) * kx;
                s2 += (q[q2 + x] as number) * kx;
                s3 += (q[q3 + x] as number) * kx;
              }
              scores[r * BLOCK_K + c] = s0 * scale;
              scores[(r + 1) * BLOCK_K + c] = s1 * scale;
              scores[(r + 2) * BLOCK_K + c] = s2 * scale;
              scores[(r + 3) * BLOCK_K + c] = s3 * scale;
            }
          }
          for (; r < rows; r++) {
            const q0 = b * qs.strideBatch + (r0 + r) * qs.strideSeq + h * qs.strideHead;
            for (let c = 0; c < cols; c++) {
              const ko = kBase + (c0 + c) * ks.strideSeq;
              let s0 = 0;
              for (let x = 0; x < d; x++) s0 += (q[q0 + x] as number) * (k[ko + x] as number);
              scores[r * BLOCK_K + c] = s0 * scale;
            }
          }

          // Per row: bounds, soft-cap / ALiBi / mask, then the online-softmax update; weights replace scores.
          for (let r = 0; r < rows; r++) {
            const i = r0 + r;
            const row = r * BLOCK_K;
            // This row's causal / window bounds (core's visibleKeys, inlined: no object per row and tile).
            let from = 0;
            let to = cols;
            if (causal) {
              const p = qOffset + i;
              from = Math.max(0, (window > 0 ? Math.max(0, p - window + 1) : 0) - c0);
              to = Math.min(cols, Math.min(kvLen, p + 1) - c0);
            }
            if (from >= to) {
              scores.fill(0, row, row + cols); // this row sees nothing in this tile
              continue;
            }
            let tileMax = Number.NEGATIVE_INFINITY;
            if (plain) {
              for (let c = from; c < to; c++) {
                const s = scores[row + c] as number;
                if (s > tileMax) tileMax = s;
                else if (Number.isNaN(s)) tileMax = s; // NaN sticks: the row becomes NaN, as in the reference
              }
            } else {
              const p = plan.qOffset + i;
              const maskRow = mask
                ? b * mask.strideBatch + h * mask.strideHead + i * mask.strideQuery + c0
                : 0;
              for (let c = from; c < to; c++) {
                let s = scores[row + c] as number;
                if (softcap > 0) s = softcap * Math.tanh(s / softcap);
                if (alibi) s += slope * (c0 + c - p);
                if (mask) {
                  const m = mask.data[maskRow + c] as number;
                  // A removed key (false, or −∞) is removed whatever its score is, even NaN.
                  if (mask.boolean ? m === 0 : m === Number.NEGATIVE_INFINITY) s = Number.NEGATIVE_INFINITY;
                  else if (!mask.boolean) s += m;
                }
                scores[row + c] = s;
                if (s > tileMax) tileMax = s;
                else if (Number.isNaN(s)) tileMax = s;
              }
            }
            if (tileMax === Number.NEGATIVE_INFINITY) {
              scores.fill(0, row, row + cols); // everything here masked: no weight
              continue;
            }
            const oldMax = rowMax[r] as number;
            // Math.max keeps a NaN from either side, so a NaN score in any tile poisons the row for good.
            const newMax = Math.max(tileMax, oldMax);
            if (newMax > oldMax && oldMax !== Number.NEGATIVE_INFINITY) {
              const correction = Math.exp(oldMax - newMax);
              rowSum[r] = (rowSum[r] as number) * correction;
              const a = r * dv;
              for (let x = 0; x < dv; x++) acc[a + x] = (acc[a + x] as number) * correction;
            }
            rowMax[r] = newMax;
            // Weights in place of the scores, 0 outside the row's visible range.
            let sum = 0;
            for (let c = 0; c < from; c++) scores[row + c] = 0;
            for (let c = from; c < to; c++) {
              const w = Math.exp((scores[row + c] as number) - newMax);
              scores[row + c] = w;
              sum += w;
            }
            for (let c = to; c < cols; c++) scores[row + c] = 0;
            rowSum[r] = (rowSum[r] as number) + sum;
          }

          // acc += P·V for the tile, four rows at a time: each value loaded once feeds four rows.
          let pr = 0;
          for (; pr + 4 <= rows; pr += 4) {
            const p0 = pr * BLOCK_K;
            const p1 = p0 + BLOCK_K;
            const p2 = p1 + BLOCK_K;
            const p3 = p2 + BLOCK_K;
            for (let x = 0; x < dv; x++) {
              let a0 = 0;
              let a1 = 0;
              let a2 = 0;
              let a3 = 0;
              let vo = vBase + c0 * vs.strideSeq + x;
              for (let c = 0; c < cols; c++, vo += vs.strideSeq) {
                const vx = v[vo] as number;
                a0 += (scores[p0 + c] as number) * vx;
                a1 += (scores[p1 + c] as number) * vx;
                a2 += (scores[p2 + c] as number) * vx;
                a3 += (scores[p3 + c] as number) * vx;
              }
              acc[pr * dv + x] = (acc[pr * dv + x] as number) + a0;
              acc[(pr + 1) * dv + x] = (acc[(pr + 1) * dv + x] as number) + a1;
              acc[(pr + 2) * dv + x] = (acc[(pr + 2) * dv + x] as number) + a2;
              acc[(pr + 3) * dv + x] = (acc[(pr + 3) * dv + x] as number) + a3;
            }
          }
          for (; pr < rows; pr++) {
            const p0 = pr * BLOCK_K;
            for (let x = 0; x < dv; x++) {
              let a0 = 0;
              let vo = vBase + c0 * vs.strideSeq + x;
              for (let c = 0; c < cols; c++, vo += vs.strideSeq)
                a0 += (scores[p0 + c] as number) * (v[vo] as number);
              acc[pr * dv + x] = (acc[pr * dv + x] as number) + a0;
            }
          }
        }

        // Normalise and store; a row that saw no key stays zero (lse −∞); a NaN row stays NaN.
        for (let r = 0; r < rows; r++) {
          const i = r0 + r;
          const o = b * outStrides.batch + i * outStrides.seq + h * outStrides.head;
          const sum = Number.isNaN(rowMax[r] as number) ? Number.NaN : (rowSum[r] as number);
          const inv = sum !== 0 ? 1 / sum : 0;
          for (let x = 0; x < dv; x++) out[o + x] = (acc[r * dv + x] as number) * inv;
          if (lse)
            lse[(b * qHeads + h) * qLen + i] =
              sum !== 0 ? (rowMax[r] as number) + Math.log(sum) : Number.NEGATIVE_INFINITY;
        }
      }
    }
  }
}
