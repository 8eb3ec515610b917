import {
  type AttentionKernelPlan,
  type HeadsDims,
  decodeHalf,
  headRowMeasure,
  visibleKeys,
} from "@ropekit/core";
import { type GpuData, isHalf } from "./half-wgsl.js";

/**
 * The CPU side of exact attention on an f32 GPU. WGSL lets an implementation assume that no NaN or
 * infinity ever appears, so the kernels are given only rows on which f32 cannot go wrong, and every
 * other row is recomputed in f64 by core's `repairAttentionRows`:
 *
 * - before the kernels, one O(N·d) pass over q, k, v (and one over the mask, which has its own size)
 *   flags the rows that see a key with a non-finite or huge k or v, have a non-finite or huge q, could
 *   overflow f32 in q·k (a bound from the norms), see a NaN or +∞ in the mask, or whose additive mask
 *   is so large that the reference's own f64 rounding shows (|mask| > 1e8). Flagged rows get lse NaN
 *   after the kernels, so the repair recomputes them; their q rows, and the k/v rows of bad keys, are
 *   zeroed in the copies the GPU reads, so no NaN or ∞ reaches a kernel;
 * - the mask reaches the GPU as f32 with each mask row shifted by its largest value (in f64, so masks
 *   like −1e9 keep the scores' precision), −∞/false and values far below the row's top as REMOVED;
 * - a row the kernels find no key for reports the sentinel, becomes lse −∞, and is rechecked by the
 *   repair (finfo.min-only rows, rows outside the causal band).
 */

/** A score the row does not see: finite, since WGSL has no infinity. */
export const REMOVED = -3e38;
/** Scores above this take part. */
export const TAKES_PART = -1e38;
/** Rows whose |q·k|·scale + |ALiBi| could pass this are flagged: every unflagged score stays far inside f32. */
const SCORE_BOUND = 1e36;
/** q or k rows with a norm above this are treated as bad (rows that see them go to the f64 repair). */
export const NORM_LIMIT = 1e30;
/** |v| above this is bad: a weighted sum over < 2^31 keys of values ≤ 2^96 stays below 2^127. */
export const V_LIMIT = 2 ** 96;
/** A row whose mask shift exceeds this in magnitude is recomputed in f64 (the reference rounds at 2^−53 of it). */
const MASK_EXACT = 1e8;
/** Mask values more than this below their row's top are REMOVED on the GPU (weight exactly 0 in f64 too). */
const MASK_FAR = 1e37;
/** A row whose best visible mask value is more than this below its mask row's top is recomputed in f64. */
const MASK_RESIDUAL = 16;

/**
 * Row measures (as core's `headRowMeasure`: bhsd row order, NaN for a non-finite row) computed elsewhere —
 * on the GPU for resident tensors, whose values the CPU does not have.
 */
export interface RowMeasures {
  readonly qNorm: Float64Array;
  readonly kNorm: Float64Array;
  readonly vMax: Float64Array;
}

/** What the kernels get, and what the post-pass needs. */
export interface PreparedAttention {
  /**
   * q, k, v data for the GPU, each in its dtype (f32, or half bits): the caller's arrays, or copies with
   * flagged/bad rows zeroed.
   */
  readonly q: GpuData;
  readonly k: GpuData;
  readonly v: GpuData;
  /** The mask as f32 [mb, mh, mq, kvLen], shifted per mask row, REMOVED where a key is removed. */
  readonly mask:
    | {
        readonly data: Float32Array;
        readonly mb: number;
        readonly mh: number;
        readonly mq: number;
        /** Shift of each mask row (added back to the lse). */
        readonly shift: Float64Array;
      }
    | undefined;
  /** 1 for rows left to the f64 repair, in [batch, qHeads, qLen] order. */
  readonly flagged: Uint8Array;
}

/** Copies `data` (once) and zeroes the head rows (b, h, s) listed (0 bits are +0 in every dtype). */
function zeroRows<T extends GpuData>(data: T, d: HeadsDims, rows: readonly number[]): T {
  if (rows.length === 0) return data;
  const out = data.slice() as T;
  for (const r of rows) {
    const s = r % d.seq;
    const bh = (r - s) / d.seq;
    const h = bh % d.heads;
    const b = (bh - h) / d.heads;
    const base = b * d.strideBatch + h * d.strideHead + s * d.strideSeq;
    out.fill(0, base, base + d.headDim);
  }
  return out;
}

/**
 * Maxima of `value(j)` over ranges [lo_i, hi_i) whose ends never decrease with i (causal and window
 * bands): a monotone deque, O(n + rows). −∞ for an empty range or one with no finite value.
 */
function bandMaxima(value: (j: number) => number, lo: Int32Array, hi: Int32Array): Float64Array {
  const rows = lo.length;
  const out = new Float64Array(rows);
  const deque: number[] = [];
  let head = 0;
  let next = 0;
  for (let i = 0; i < rows; i++) {
    const l = lo[i] as number;
    const h = hi[i] as number;
    for (; next < h; next++) {
      const x = value(next);
      while (deque.length > head && value(deque[deque.length - 1] as number) <= x) deque.pop();
      deque.push(next);
    }
    while (deque.length > head && (deque[head] as number) < l) head++;
    out[i] = deque.length > head && l < h ? value(deque[head] as number) : Number.NEGATIVE_INFINITY;
  }
  return out;
}

/** The values of kernel data for the CPU's measures: f32 as is, half bits decoded (exactly). */
function valuesOf(data: GpuData, dtype: AttentionKernelPlan["qTensor"]["dtype"]): Float32Array {
  return isHalf(dtype) ? decodeHalf(data as Uint16Array, dtype) : (data as Float32Array);
}

/**
 * Prepares one attention call (`q`, `k`, `v` as the kernel gets them: rotated when RoPE was fused; each
 * f32 or half bits, as the plan's tensors say): flags, zeroed copies and the shifted mask. Half data is
 * decoded on the CPU only for the measures (norms, maxima); the GPU gets the bits.
 */
export function prepareAttention(
  plan: AttentionKernelPlan,
  q: GpuData,
  k: GpuData,
  v: GpuData,
  measures?: RowMeasures,
): PreparedAttention {
  const { batch, qHeads, kvHeads, qLen, kvLen } = plan;
  const group = qHeads / kvHeads;
  const rows = batch * qHeads * qLen;
  const flagged = new Uint8Array(rows);
  const qNorm = measures?.qNorm ?? headRowMeasure(valuesOf(q, plan.qTensor.dtype), plan.q);
  const kNorm = measures?.kNorm ?? headRowMeasure(valuesOf(k, plan.kTensor.dtype), plan.k);
  const vMax = measures?.vMax ?? headRowMeasure(valuesOf(v, plan.vTensor.dtype), plan.v, true);
  const kSeq = plan.k.seq;
  const scale = Math.max(1, plan.scale);

  // Ranges per query index i (the same for every head and batch entry).
  const lo = new Int32Array(qLen);
  const hi = new Int32Array(qLen);
  for (let i = 0; i < qLen; i++) {
    const r = visibleKeys(plan, i);
    lo[i] = r.lo;
    hi[i] = r.hi;
  }

  // Keys: bad ones (non-finite or huge k or v) and the largest good norm, per (b, kv head).
  const badKeys: number[][] = [];
  const kMax = new Float64Array(batch * kvHeads);
  const badKRows: number[] = [];
  for (let g = 0; g < batch * kvHeads; g++) {
    const bad: number[] = [];
    let top = 0;
    for (let j = 0; j < kvLen; j++) {
      const kn = kNorm[g * kSeq + j] as number;
      const vm = vMax[g * kSeq + j] as number;
      if (!(kn <= NORM_LIMIT) || !(vm <= V_LIMIT)) {
        bad.push(j);
        badKRows.push(g * kSeq + j);
      } else if (kn > top) top = kn;
    }
    badKeys.push(bad);
    kMax[g] = top;
  }

  // The mask: f32, shifted per mask row by its largest finite value; NaN/+∞ positions remembered.
  let mask: PreparedAttention["mask"];
  const maskBad = new Map<number, number[]>();
  if (plan.mask) {
    const m = plan.mask;
    const mb = m.strideBatch === 0 ? 1 : batch;
    const mh = m.strideHead === 0 ? 1 : qHeads;
    const mq = m.strideQuery === 0 ? 1 : qLen;
    const maskRows = mb * mh * mq;
    const data = new Float32Array(maskRows * kvLen);
    const shift = new Float64Array(maskRows);
    for (let b = 0; b < mb; b++) {
      for (let h = 0; h < mh; h++) {
        for (let i = 0; i < mq; i++) {
          const mr = (b * mh + h) * mq + i;
          const src = b * m.strideBatch + h * m.strideHead + i * m.strideQuery;
          let top = Number.NEGATIVE_INFINITY;
          for (let j = 0; j < kvLen; j++) {
            const x = m.data[src + j] as number;
            if (m.boolean) {
              if (x !== 0) top = 0;
            } else if (Number.isFinite(x) && x > top) top = x;
          }
          const s = Number.isFinite(top) ? top : 0;
          shift[mr] = s;
          const out = mr * kvLen;
          for (let j = 0; j < kvLen; j++) {
            const x = m.data[src + j] as number;
            if (m.boolean) {
              data[out + j] = x !== 0 ? 0 : REMOVED;
              continue;
            }
            if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) {
              const list = maskBad.get(mr) ?? [];
              list.push(j);
              maskBad.set(mr, list);
              data[out + j] = REMOVED;
              continue;
            }
            const shifted = x - s;
            data[out + j] = shifted < -MASK_FAR ? REMOVED : shifted;
          }
        }
      }
    }
    mask = { data, mb, mh, mq, shift };
  }

  // A mask value at (mask row, j) that removes the key outright (false or −∞): a bad key there is harmless.
  const removes = (mr: number, j: number): boolean => {
    const m = plan.mask;
    if (!m || !mask) return false;
    const b = Math.floor(mr / (mask.mh * mask.mq));
    const h = Math.floor(mr / mask.mq) % mask.mh;
    const i = mr % mask.mq;
    const x = m.data[b * m.strideBatch + h * m.strideHead + i * m.strideQuery + j] as number;
    return m.boolean ? x === 0 : x === Number.NEGATIVE_INFINITY;
  };

  // Best visible mask value of each (mask row, i), relative to the row's shift: only needed when causal.
  const maskRowOf = (b: number, h: number, i: number): number =>
    mask ? ((mask.mb > 1 ? b : 0) * mask.mh + (mask.mh > 1 ? h : 0)) * mask.mq + (mask.mq > 1 ? i : 0) : 0;
  let residual: ((mr: number, i: number) => number) | undefined;
  if (mask && plan.causal && !plan.mask?.boolean) {
    const { data, mq } = mask;
    const value = (base: number) => (j: number) => {
      const x = data[base + j] as number;
      return x > TAKES_PART ? x : Number.NEGATIVE_INFINITY;
    };
    if (mq === 1) {
      const perRow = new Map<number, Float64Array>();
      residual = (mr, i) => {
        let maxima = perRow.get(mr);
        if (!maxima) {
          maxima = bandMaxima(value(mr * kvLen), lo, hi);
          perRow.set(mr, maxima);
        }
        return maxima[i] as number;
      };
    } else {
      residual = (mr, i) => {
        const f = value(mr * kvLen);
        let top = Number.NEGATIVE_INFINITY;
        for (let j = lo[i] as number; j < (hi[i] as number); j++) top = Math.max(top, f(j));
        return top;
      };
    }
  }

  const flaggedQRows: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const kvh = Math.floor(h / group);
      const g = b * kvHeads + kvh;
      const slope = plan.alibiSlopes ? Math.abs(plan.alibiSlopes[h] as number) : 0;
      for (let i = 0; i < qLen; i++) {
        const row = (b * qHeads + h) * qLen + i;
        const l = lo[i] as number;
        const u = hi[i] as number;
        const qn = qNorm[row] as number;
        let bad = !(qn <= NORM_LIMIT);
        const mr = maskRowOf(b, h, i);
        if (!bad && l < u) {
          for (const j of badKeys[g] as number[]) {
            if (j >= l && j < u && !removes(mr, j)) {
              bad = true;
              break;
            }
          }
        }
        if (!bad && mask && l < u) {
          const shift = mask.shift[mr] as number;
          for (const j of maskBad.get(mr) ?? []) if (j >= l && j < u) bad = true;
          const top = residual ? residual(mr, i) : 0;
          // |shift| only matters when some finite mask value is visible (else the row has no key).
          if (top > Number.NEGATIVE_INFINITY && (Math.abs(shift) > MASK_EXACT || top < -MASK_RESIDUAL))
            bad = true;
        }
        if (!bad && l < u) {
          const p = plan.qOffset + i;
          const alibi = slope * Math.max(Math.abs(l - p), Math.abs(u - 1 - p));
          if (!(qn * (kMax[g] as number) * scale + alibi <= SCORE_BOUND)) bad = true;
        }
        if (bad) {
          flagged[row] = 1;
          flaggedQRows.push(row);
        }
      }
    }
  }

  // Zeroed copies: flagged q rows, and the k and v rows of bad keys (rows that see them are flagged).
  return {
    q: zeroRows(q, plan.q, flaggedQRows),
    k: zeroRows(k, plan.k, badKRows),
    v: zeroRows(v, plan.v, badKRows),
    mask,
    flagged,
  };
}

/**
 * The lse of every row from the kernels' (in place): NaN for flagged rows (so the repair recomputes
 * them), −∞ for rows that saw no key, the mask shift added back otherwise.
 */
export function finishLse(plan: AttentionKernelPlan, prepared: PreparedAttention, lse: Float32Array): void {
  const { batch, qHeads, qLen } = plan;
  const { mask, flagged } = prepared;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      for (let i = 0; i < qLen; i++) {
        const row = (b * qHeads + h) * qLen + i;
        const x = lse[row] as number;
        if (flagged[row]) lse[row] = Number.NaN;
        else if (!(x > TAKES_PART)) lse[row] = Number.NEGATIVE_INFINITY;
        else if (mask) {
          const mr =
            ((mask.mb > 1 ? b : 0) * mask.mh + (mask.mh > 1 ? h : 0)) * mask.mq + (mask.mq > 1 ? i : 0);
          lse[row] = x + (mask.shift[mr] as number);
        }
      }
    }
  }
}
