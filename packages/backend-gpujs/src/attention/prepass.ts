import type { AttentionKernelPlan } from "@ropekit/core";
import { visibleKeys } from "@ropekit/core";

/**
 * The CPU pass before the attention kernels (issue 12). The kernels are f32 and GLSL has neither a
 * reliable NaN nor an infinity, so they are only given rows on which f32 cannot go wrong; every other row
 * is flagged, gets lse NaN, and core's f64 repair recomputes it (with `recheckMaskedRows`, rows no key is
 * left to, lse −∞, too). O(N·d) over q, k, v and O(block·kvLen) over the mask: cheap next to the kernels.
 * A row is flagged when
 * - its scores could overflow f32 (a bound from the norms of q and k, plus ALiBi),
 * - it sees a key with a non-finite k or v, or a v too large to average in f32,
 * - its q row is not finite (after fused RoPE too: the RoPE kernel keeps a non-finite row non-finite),
 * - its mask holds NaN or +∞ at a key it sees, or an additive value so large that f64 rounding changes the
 *   reference's scores (torch.finfo(float32).min in a padding mask).
 * Every other row's scores are finite and inside ±1.1e37 (the mask is shifted by its row maximum, which
 * leaves the softmax as it is), so a key takes part iff its score is above −1e38 and the sentinel −3e38
 * for "removed" never collides with a real score. Non-finite q, k, v are zeroed in the copies the kernels
 * read, so no NaN or ∞ reaches the GPU.
 */

/** A score the row does not see (causal, window, mask). Finite: GLSL has no infinity literal. */
const EXCLUDED = -3e38;
/** A key takes part iff its score is above this; every real score of an unflagged row is. */
const TAKES_PART = -1e38;
/** Rows whose |score| could exceed this (before the mask) are flagged: f32 holds 3.4e38. */
const SCORE_BOUND = 1e37;
/**
 * A row whose largest visible additive mask value exceeds this in magnitude is flagged: the reference adds
 * it to the scores in f64, which rounds the scores at 2^−53 of it (all of them, for finfo.min), and only
 * the reference's own f64 arithmetic reproduces that.
 */
const MASK_EXACT = 1e8;
/** |v| up to this averages in f32 without overflow for any kvLen below 2^24: weights sum to ≤ 1 + 2^−24·kvLen. */
const V_LIMIT = 2 ** 127;

/** What the CPU pass found about one (batch, kv head) group's keys. */
export interface GroupKeys {
  /** Norm of each key's k (index j), NaN for a key the kernels must not read. */
  readonly kNorm: Float64Array;
  /** Keys with a non-finite k or v, or a v beyond V_LIMIT: a row that sees one is flagged. */
  readonly bad: Uint8Array;
  readonly badList: readonly number[];
  /** Largest norm of a good key. */
  readonly kMax: number;
  /** Ordinary inputs pass one bound for the whole group; otherwise each row is bounded by its own keys. */
  readonly perRowBound: boolean;
}

/**
 * The keys of the (batch, kv head) group whose first key row (bhsd) is `kvBase`: which ones no row may
 * see on the GPU (non-finite k or v, or |v| > 2^127), their norms, and whether the rows need a bound each
 * (`perRowBound`) or one bound for the whole group serves (ordinary inputs).
 */
export function groupKeys(
  kNorm: Float64Array,
  vMax: Float64Array,
  kvBase: number,
  kvLen: number,
  qNorm: Float64Array,
  scale: number,
): GroupKeys {
  const keyNorm = kNorm.slice(kvBase, kvBase + kvLen);
  const bad = new Uint8Array(kvLen);
  const badList: number[] = [];
  let kMax = 0;
  for (let j = 0; j < kvLen; j++) {
    const kn = keyNorm[j] as number;
    if (Number.isNaN(kn) || !((vMax[kvBase + j] as number) <= V_LIMIT)) {
      bad[j] = 1;
      badList.push(j);
      keyNorm[j] = Number.NaN;
    } else if (kn > kMax) kMax = kn;
  }
  let qMax = 0;
  for (const qn of qNorm) if (qn > qMax) qMax = qn;
  const perRowBound = !(qMax * kMax * Math.max(1, scale) <= SCORE_BOUND / 2);
  return { kNorm: keyNorm, bad, badList, kMax, perRowBound };
}

/** One block of query rows, prepared on the CPU. */
export interface Block {
  /** The additive mask shifted by each row's maximum, EXCLUDED where a key is removed (or 1 element). */
  readonly mask: Float32Array;
  /** The shift of each row, added back to its lse. */
  readonly shift: Float64Array;
  /** 1 for rows the kernels cannot compute exactly: lse NaN, left to the repair. */
  readonly flagged: Uint8Array;
  readonly flaggedCount: number;
}

/**
 * Flags and mask of the block of rows [rowStart, rowStart + rows) of one (batch, kv head) group. `qNorm`
 * holds the group's rows (row r at qNorm[r]). Visibility is the reference's: the causal/window range, and
 * a mask that does not say false or −∞ (a finite mask value, however large, leaves the key in the row).
 */
export function prepareBlock(
  plan: AttentionKernelPlan,
  b: number,
  headBase: number,
  rowStart: number,
  rows: number,
  qNorm: Float64Array,
  keys: GroupKeys,
): Block {
  const { qLen, kvLen } = plan;
  const { perRowBound } = keys;
  const m = plan.mask;
  const mask = m ? new Float32Array(rows * kvLen) : new Float32Array(1);
  const shift = new Float64Array(rows);
  const flagged = new Uint8Array(rows);
  const scale = Math.max(1, plan.scale);
  let flaggedCount = 0;
  for (let r = 0; r < rows; r++) {
    const row = rowStart + r;
    const hh = Math.floor(row / qLen);
    const i = row - hh * qLen;
    const p = plan.qOffset + i;
    const { lo, hi } = visibleKeys(plan, i);
    const qn = qNorm[row] as number;
    let bad = !Number.isFinite(qn);
    let kRow = perRowBound ? 0 : keys.kMax;
    if (m) {
      const base = b * m.strideBatch + (headBase + hh) * m.strideHead + i * m.strideQuery;
      let top = Number.NEGATIVE_INFINITY;
      for (let j = lo; j < hi; j++) {
        const value = m.data[base + j] as number;
        if (m.boolean ? value === 0 : value === Number.NEGATIVE_INFINITY) continue;
        const additive = m.boolean ? 0 : value;
        // NaN or +∞ at a key the row sees: the reference's row is NaN.
        if (Number.isNaN(additive) || additive === Number.POSITIVE_INFINITY) bad = true;
        else if (additive > top) top = additive;
        if (keys.bad[j]) bad = true;
        if (perRowBound && (keys.kNorm[j] as number) > kRow) kRow = keys.kNorm[j] as number;
      }
      const s = Number.isFinite(top) ? top : 0;
      if (Math.abs(s) > MASK_EXACT) bad = true;
      shift[r] = s;
      const out = r * kvLen;
      mask.fill(EXCLUDED, out, out + kvLen);
      for (let j = lo; j < hi; j++) {
        const value = m.data[base + j] as number;
        if (m.boolean ? value === 0 : value === Number.NEGATIVE_INFINITY) continue;
        const shifted = (m.boolean ? 0 : value) - s;
        // A key shifted to ≤ −1e38 has weight exp(−1e38 + 1.1e37) = 0 in f64 too: it can be removed.
        if (shifted > TAKES_PART) mask[out + j] = shifted;
      }
    } else {
      for (const j of keys.badList) if (j >= lo && j < hi) bad = true;
      if (perRowBound) {
        for (let j = lo; j < hi; j++) if ((keys.kNorm[j] as number) > kRow) kRow = keys.kNorm[j] as number;
      }
    }
    if (!bad && lo < hi) {
      const alibi = plan.alibiSlopes
        ? Math.abs(plan.alibiSlopes[headBase + hh] as number) *
          Math.max(Math.abs(lo - p), Math.abs(hi - 1 - p))
        : 0;
      // |q·k| ≤ ‖q‖·‖k‖ bounds every partial sum of the dot product too.
      if (!(qn * kRow * scale + alibi <= SCORE_BOUND)) bad = true;
    }
    if (bad) {
      flagged[r] = 1;
      flaggedCount++;
    }
  }
  return { mask, shift, flagged, flaggedCount };
}

/** `data` with the given rows (of `width` values) set to 0, copied first; `data` itself when none. */
export function zeroRows(data: Float32Array, rows: Iterable<number>, width: number): Float32Array {
  let out: Float32Array | undefined;
  for (const row of rows) {
    out ??= data.slice();
    out.fill(0, row * width, (row + 1) * width);
  }
  return out ?? data;
}
