import {
  type AttentionOptions,
  type AttentionPlan,
  type HeadsTensor,
  RopekitError,
  headsDims,
  headsShape,
  repairAttentionRows,
  toLayout,
  visibleKeys,
} from "@ropekit/core";
import {
  type GpuContext,
  type KernelArgument,
  type KernelThis,
  MAX_KERNEL_ELEMENTS,
  toFloat32,
} from "../gpu.js";

/**
 * Attention on the GPU in blocks of query rows. For each (batch, kv head) group and each block of its query
 * rows, four kernels: the scores of the block against every key (block × kvLen, the only quadratic
 * buffer, bounded by the block size), the row maxima, the row sums of exp(s − max), and the weighted sum
 * of values. Peak GPU memory is O(block·kvLen + N·d), never qLen×kvLen for long sequences.
 *
 * Exactness. The kernels are f32 and GLSL has neither a reliable NaN nor an infinity, so the kernels are
 * only given rows on which f32 cannot go wrong, and every other row is left to core's
 * `repairAttentionRows`, which recomputes it in f64 with the reference:
 * - before the kernels, a CPU pass over q, k, v and the mask (O(N·d) and O(block·kvLen), cheap next to
 *   the kernels) flags the rows whose scores could overflow f32 (a bound from the norms of q and k),
 *   that see a key with a non-finite k or v or a v too large to average in f32, that have a NaN or +∞ in
 *   their mask, or whose additive mask is so large that f64 rounding changes the reference's scores
 *   (torch.finfo(float32).min in a padding mask). Those rows get lse NaN, so the repair recomputes them;
 *   their non-finite q, k, v are zeroed in the copies the kernels read, so no NaN or ∞ reaches the GPU;
 * - every other row's scores are finite and inside ±1.1e37 (the mask is shifted by its row maximum on the
 *   CPU, which leaves the softmax as it is), so a key takes part iff its score is above −1e38 and the
 *   sentinel −3e38 for "removed" never collides with a real score;
 * - a row no key is left to reports lse −∞; the repair rechecks those rows too (recheckMasked).
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
/** Longest loop a kernel may run (keys per row, channels per head). */
const MAX_LOOP = 1 << 20;

function scoresKernel(
  this: KernelThis,
  q: Float32Array,
  k: Float32Array,
  mask: Float32Array,
  slopes: Float32Array,
  headDim: number,
  kvLen: number,
  qLen: number,
  rowStart: number,
  headBase: number,
  qOffset: number,
  scale: number,
  softcap: number,
  causal: number,
  window: number,
  hasMask: number,
  hasAlibi: number,
): number {
  const idx = this.thread.x;
  const localRow = Math.floor((idx + 0.5) / kvLen);
  const j = idx - localRow * kvLen;
  const row = rowStart + localRow;
  const hh = Math.floor((row + 0.5) / qLen);
  const i = row - hh * qLen;
  const p = qOffset + i;
  if (causal > 0.5) {
    if (j > p) return -3e38;
    if (window > 0.5 && j <= p - window) return -3e38;
  }
  let m = 0;
  if (hasMask > 0.5) {
    // Already shifted by the row's maximum and clamped to −3e38 for removed keys (on the CPU).
    m = mask[idx] as number;
    if (m < -1e38) return -3e38;
  }
  let dot = 0;
  for (let d = 0; d < headDim; d++) {
    dot += (q[localRow * headDim + d] as number) * (k[j * headDim + d] as number);
  }
  let s = dot * scale;
  if (softcap > 0) {
    // c·tanh(s/c). GLSL ES 1 has no tanh (gpu.js's e^{2x} form is NaN past x ≈ 44), and 1 − 2/(e^{2x} + 1)
    // loses relative precision near 0: the odd Taylor series below |x| = 1/4 (truncation under 1e-8),
    // (1 − e)/(1 + e) with e = e^{−2|x|} above, |x| clamped at 20 where tanh is 1 in f32.
    const x = s / softcap;
    let ax = Math.abs(x);
    let t = 0;
    if (ax < 0.25) {
      const x2 = ax * ax;
      t =
        ax *
        (1 +
          x2 *
            (-0.3333333333333333 +
              x2 * (0.13333333333333333 + x2 * (-0.05396825396825397 + x2 * 0.021869488536155203))));
    } else {
      if (ax > 20) ax = 20;
      const e = Math.exp(-2 * ax);
      t = (1 - e) / (1 + e);
    }
    if (x < 0) t = -t;
    s = softcap * t;
  }
  if (hasAlibi > 0.5) s += (slopes[headBase + hh] as number) * (j - p);
  return s + m;
}

function rowMaxKernel(
  this: KernelThis,
  scores: Float32Array,
  kvLen: number,
  qLen: number,
  rowStart: number,
  qOffset: number,
  causal: number,
): number {
  const localRow = this.thread.x;
  const row = rowStart + localRow;
  const i = row - Math.floor((row + 0.5) / qLen) * qLen;
  let hi = kvLen;
  if (causal > 0.5) hi = Math.min(kvLen, qOffset + i + 1);
  let m = -3e38;
  for (let j = 0; j < kvLen; j++) {
    if (j >= hi) break;
    m = Math.max(m, scores[localRow * kvLen + j] as number);
  }
  return m;
}

function rowSumKernel(
  this: KernelThis,
  scores: Float32Array,
  maxima: Float32Array,
  kvLen: number,
  qLen: number,
  rowStart: number,
  qOffset: number,
  causal: number,
): number {
  const localRow = this.thread.x;
  const row = rowStart + localRow;
  const i = row - Math.floor((row + 0.5) / qLen) * qLen;
  let hi = kvLen;
  if (causal > 0.5) hi = Math.min(kvLen, qOffset + i + 1);
  const m = maxima[localRow] as number;
  if (m < -1e38) return 0;
  let l = 0;
  for (let j = 0; j < kvLen; j++) {
    if (j >= hi) break;
    const s = scores[localRow * kvLen + j] as number;
    if (s > -1e38) l += Math.exp(s - m);
  }
  return l;
}

function outputKernel(
  this: KernelThis,
  scores: Float32Array,
  maxima: Float32Array,
  sums: Float32Array,
  v: Float32Array,
  vHeadDim: number,
  kvLen: number,
  qLen: number,
  rowStart: number,
  qOffset: number,
  causal: number,
): number {
  const idx = this.thread.x;
  const localRow = Math.floor((idx + 0.5) / vHeadDim);
  const c = idx - localRow * vHeadDim;
  const row = rowStart + localRow;
  const i = row - Math.floor((row + 0.5) / qLen) * qLen;
  const l = sums[localRow] as number;
  if (l <= 0) return 0;
  const inv = 1 / l;
  const m = maxima[localRow] as number;
  let hi = kvLen;
  if (causal > 0.5) hi = Math.min(kvLen, qOffset + i + 1);
  let acc = 0;
  for (let j = 0; j < kvLen; j++) {
    if (j >= hi) break;
    const s = scores[localRow * kvLen + j] as number;
    // Normalised weights as it goes: the sum is a convex combination of v, so |v| ≤ 2^127 cannot overflow.
    if (s > -1e38) acc += Math.exp(s - m) * inv * (v[j * vHeadDim + c] as number);
  }
  return acc;
}

/**
 * Per row of a head tensor, in bhsd row order ((b·heads + h)·seq + s): the L2 norm in f64 (`max`: the
 * largest |value|), NaN when the row holds a NaN or ±∞.
 */
function rowMeasure(x: HeadsTensor, max = false): Float64Array {
  const d = headsDims(x);
  const out = new Float64Array(d.batch * d.heads * d.seq);
  const data = x.data;
  for (let b = 0; b < d.batch; b++) {
    for (let h = 0; h < d.heads; h++) {
      for (let s = 0; s < d.seq; s++) {
        const base = b * d.strideBatch + h * d.strideHead + s * d.strideSeq;
        let acc = 0;
        for (let c = 0; c < d.headDim; c++) {
          const value = data[base + c] as number;
          // Squares of f32 values cannot overflow f64: acc is finite iff every value is.
          acc = max ? Math.max(acc, Math.abs(value)) : acc + value * value;
        }
        out[(b * d.heads + h) * d.seq + s] = Number.isFinite(acc) ? (max ? acc : Math.sqrt(acc)) : Number.NaN;
      }
    }
  }
  return out;
}

/** What the CPU pass found about one (batch, kv head) group's keys. */
interface GroupKeys {
  /** Norm of each key's k (index j), NaN for a key the kernels must not read. */
  readonly kNorm: Float64Array;
  /** Keys with a non-finite k or v, or a v beyond V_LIMIT: a row that sees one is flagged. */
  readonly bad: Uint8Array;
  readonly badList: readonly number[];
  /** Largest norm of a good key. */
  readonly kMax: number;
}

/** One block of query rows, prepared on the CPU. */
interface Block {
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
function prepareBlock(
  plan: AttentionPlan,
  b: number,
  headBase: number,
  rowStart: number,
  rows: number,
  qNorm: Float64Array,
  keys: GroupKeys,
  perRowBound: boolean,
): Block {
  const { qLen, kvLen } = plan;
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
function zeroRows(data: Float32Array, rows: Iterable<number>, width: number): Float32Array {
  let out: Float32Array | undefined;
  for (const row of rows) {
    out ??= data.slice();
    out.fill(0, row * width, (row + 1) * width);
  }
  return out ?? data;
}

/** The caller's arguments, before fused RoPE rotated q and k: what the repair recomputes rows from. */
export interface AttentionCall {
  readonly q: HeadsTensor;
  readonly k: HeadsTensor;
  readonly v: HeadsTensor;
  readonly options: AttentionOptions;
}

/**
 * Runs attention for a validated plan (`q`, `k` already rotated when RoPE is fused; `call` holds what the
 * caller passed); returns the output in q's layout, and the lse when the plan asks for it.
 */
export async function attentionOnGpu(
  ctx: GpuContext,
  plan: AttentionPlan,
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  call: AttentionCall,
): Promise<{ output: HeadsTensor<Float32Array>; lse: Float32Array | undefined }> {
  const { batch, qHeads, kvHeads, qLen, kvLen, headDim, vHeadDim } = plan;
  // Kernels index per (batch, kv head) group, so only a group's keys and values must stay below 2^24.
  if (kvLen * Math.max(headDim, vHeadDim) > MAX_KERNEL_ELEMENTS) {
    throw new RopekitError(
      "TOO_LARGE",
      `${kvLen} keys × ${Math.max(headDim, vHeadDim)} channels per kv head exceed the 2^24 elements a gpujs kernel indexes exactly (f32 arithmetic)`,
      "k.shape",
    );
  }
  const qb = toLayout(q, "bhsd").data as Float32Array;
  const kb = toLayout(k, "bhsd").data as Float32Array;
  const vb = toLayout(v, "bhsd").data as Float32Array;
  // Row measures for the CPU pass; with fused RoPE a row is also bad when the caller's row was not finite.
  const qNorm = rowMeasure(q);
  const kNorm = rowMeasure(k);
  const vMax = rowMeasure(v, true);
  if (call.q !== q) {
    const source = rowMeasure(call.q);
    for (let r = 0; r < qNorm.length; r++) if (Number.isNaN(source[r])) qNorm[r] = Number.NaN;
  }
  if (call.k !== k) {
    const source = rowMeasure(call.k);
    for (let r = 0; r < kNorm.length; r++) if (Number.isNaN(source[r])) kNorm[r] = Number.NaN;
  }
  const kSeq = plan.k.seq;
  const group = qHeads / kvHeads;
  const groupRows = group * qLen;
  const blockRows = Math.max(
    1,
    Math.min(groupRows, Math.floor(ctx.chunk / kvLen), Math.floor(ctx.chunk / Math.max(headDim, vHeadDim))),
  );
  const slopes = plan.alibiSlopes ? Float32Array.from(plan.alibiSlopes) : new Float32Array(1);
  const scores = ctx.kernel("attention-scores", scoresKernel, { pipeline: true, loops: MAX_LOOP });
  const rowMax = ctx.kernel("attention-row-max", rowMaxKernel, { pipeline: true, loops: MAX_LOOP });
  const rowSum = ctx.kernel("attention-row-sum", rowSumKernel, { pipeline: true, loops: MAX_LOOP });
  const output = ctx.kernel("attention-output", outputKernel, { loops: MAX_LOOP });
  const causal = plan.causal ? 1 : 0;
  const scale = Math.max(1, plan.scale);

  const out = new Float32Array(batch * qHeads * qLen * vHeadDim);
  // Every row's lse, asked for or not: the repair finds the rows to recompute by it.
  const lse = new Float32Array(batch * qHeads * qLen);
  for (let b = 0; b < batch; b++) {
    for (let kvh = 0; kvh < kvHeads; kvh++) {
      const headBase = kvh * group;
      const kvBase = (b * kvHeads + kvh) * kSeq;
      // The query rows of the group's heads are contiguous in bhsd.
      const qRowBase = (b * qHeads + headBase) * qLen;
      const groupQNorm = qNorm.subarray(qRowBase, qRowBase + groupRows);
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
      for (const qn of groupQNorm) if (qn > qMax) qMax = qn;
      const keys: GroupKeys = { kNorm: keyNorm, bad, badList, kMax };
      // Ordinary inputs pass one bound for the whole group; otherwise each row is bounded by its own keys.
      const perRowBound = !(qMax * kMax * scale <= SCORE_BOUND / 2);
      // Keys the kernels must not read hold zeros in their copies (rows that see them are flagged).
      const kSlice = zeroRows(kb.subarray(kvBase * headDim, (kvBase + kvLen) * headDim), badList, headDim);
      const vSlice = zeroRows(vb.subarray(kvBase * vHeadDim, (kvBase + kvLen) * vHeadDim), badList, vHeadDim);
      for (let r0 = 0; r0 < groupRows; r0 += blockRows) {
        const n = Math.min(blockRows, groupRows - r0);
        const block = prepareBlock(plan, b, headBase, r0, n, groupQNorm, keys, perRowBound);
        const lseAt = qRowBase + r0;
        if (block.flaggedCount === n) {
          lse.fill(Number.NaN, lseAt, lseAt + n);
          continue;
        }
        const flaggedRows: number[] = [];
        for (let r = 0; r < n; r++) if (block.flagged[r]) flaggedRows.push(r);
        const qBlock = zeroRows(
          qb.subarray((qRowBase + r0) * headDim, (qRowBase + r0 + n) * headDim),
          flaggedRows,
          headDim,
        );
        const s = await ctx.run(
          scores,
          n * kvLen,
          qBlock,
          kSlice,
          block.mask,
          slopes,
          headDim,
          kvLen,
          qLen,
          r0,
          headBase,
          plan.qOffset,
          plan.scale,
          plan.softcap,
          causal,
          plan.window,
          plan.mask ? 1 : 0,
          plan.alibiSlopes ? 1 : 0,
        );
        const m = await ctx.run(rowMax, n, s as KernelArgument, kvLen, qLen, r0, plan.qOffset, causal);
        const l = await ctx.run(
          rowSum,
          n,
          s as KernelArgument,
          m as KernelArgument,
          kvLen,
          qLen,
          r0,
          plan.qOffset,
          causal,
        );
        const o = await ctx.read(
          output,
          n * vHeadDim,
          s as KernelArgument,
          m as KernelArgument,
          l as KernelArgument,
          vSlice,
          vHeadDim,
          kvLen,
          qLen,
          r0,
          plan.qOffset,
          causal,
        );
        out.set(o, lseAt * vHeadDim);
        // log-sum-exp in f64 on the CPU from the row max, sum and mask shift: −∞ for a row that sees no key.
        const maxima = await toFloat32(m, n);
        const sums = await toFloat32(l, n);
        for (let r = 0; r < n; r++) {
          const sum = sums[r] as number;
          lse[lseAt + r] = block.flagged[r]
            ? Number.NaN
            : sum > 0
              ? (block.shift[r] as number) + (maxima[r] as number) + Math.log(sum)
              : Number.NEGATIVE_INFINITY;
        }
      }
    }
  }
  const shape = headsShape("bhsd", batch, qLen, qHeads, vHeadDim);
  const result = toLayout({ data: out, shape, layout: "bhsd" }, q.layout);
  // Flagged rows (lse NaN), rows that overflowed anyway, and rows that saw no key: exactly, in f64.
  repairAttentionRows(call.q, call.k, call.v, call.options, result.data, lse, true);
  return { output: result, lse: plan.returnLse ? lse : undefined };
}
