import { type AttentionPlan, type HeadsTensor, RopekitError, headsShape, toLayout } from "@ropekit/core";
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
 */

/** A score the row does not see (causal, window, mask). Finite: GLSL has no infinity literal. */
const EXCLUDED = -3e38;
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
  let dot = 0;
  for (let d = 0; d < headDim; d++) {
    dot += (q[localRow * headDim + d] as number) * (k[j * headDim + d] as number);
  }
  let s = dot * scale;
  if (softcap > 0) {
    // c·tanh(s/c), with tanh(y) = 1 − 2/(e^{2y} + 1): exact limits at ±∞, no tanh needed in GLSL ES 1.
    s = softcap * (1 - 2 / (Math.exp((2 * s) / softcap) + 1));
  }
  if (hasAlibi > 0.5) s += (slopes[headBase + hh] as number) * (j - p);
  if (hasMask > 0.5) {
    const m = mask[idx] as number;
    if (m < -1e38) return -3e38;
    s += m;
  }
  return s;
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
  const m = maxima[localRow] as number;
  let hi = kvLen;
  if (causal > 0.5) hi = Math.min(kvLen, qOffset + i + 1);
  let acc = 0;
  for (let j = 0; j < kvLen; j++) {
    if (j >= hi) break;
    const s = scores[localRow * kvLen + j] as number;
    if (s > -1e38) acc += Math.exp(s - m) * (v[j * vHeadDim + c] as number);
  }
  return acc / l;
}

/** The mask of one block of rows as additive f32 scores, EXCLUDED where a key is masked out. */
function maskBlock(
  plan: AttentionPlan,
  b: number,
  headBase: number,
  rowStart: number,
  rows: number,
): Float32Array {
  const m = plan.mask;
  if (!m) return new Float32Array(1);
  const { qLen, kvLen } = plan;
  const out = new Float32Array(rows * kvLen);
  for (let r = 0; r < rows; r++) {
    const hh = Math.floor((rowStart + r) / qLen);
    const i = rowStart + r - hh * qLen;
    const base = b * m.strideBatch + (headBase + hh) * m.strideHead + i * m.strideQuery;
    for (let j = 0; j < kvLen; j++) {
      const value = m.data[base + j] as number;
      out[r * kvLen + j] = m.boolean
        ? value === 0
          ? EXCLUDED
          : 0
        : value === Number.NEGATIVE_INFINITY
          ? EXCLUDED
          : value;
    }
  }
  return out;
}

/** Runs attention for a validated plan (RoPE already applied); returns the output in q's layout, and the lse. */
export async function attentionOnGpu(
  ctx: GpuContext,
  plan: AttentionPlan,
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
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

  const out = new Float32Array(batch * qHeads * qLen * vHeadDim);
  const lse = plan.returnLse ? new Float32Array(batch * qHeads * qLen) : undefined;
  for (let b = 0; b < batch; b++) {
    for (let kvh = 0; kvh < kvHeads; kvh++) {
      const headBase = kvh * group;
      const kvBase = (b * kvHeads + kvh) * kSeq;
      const kSlice = kb.subarray(kvBase * headDim, (kvBase + kvLen) * headDim);
      const vSlice = vb.subarray(kvBase * vHeadDim, (kvBase + kvLen) * vHeadDim);
      // The query rows of the group's heads are contiguous in bhsd.
      const qRowBase = (b * qHeads + headBase) * qLen;
      for (let r0 = 0; r0 < groupRows; r0 += blockRows) {
        const n = Math.min(blockRows, groupRows - r0);
        const s = await ctx.run(
          scores,
          n * kvLen,
          qb.subarray((qRowBase + r0) * headDim, (qRowBase + r0 + n) * headDim),
          kSlice,
          maskBlock(plan, b, headBase, r0, n),
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
        out.set(o, (qRowBase + r0) * vHeadDim);
        if (lse) {
          // log-sum-exp in f64 on the CPU from the row max and sum: −∞ for a row that sees no key.
          const maxima = await toFloat32(m, n);
          const sums = await toFloat32(l, n);
          for (let r = 0; r < n; r++) {
            const sum = sums[r] as number;
            lse[qRowBase + r0 + r] =
              sum > 0 ? (maxima[r] as number) + Math.log(sum) : Number.NEGATIVE_INFINITY;
          }
        }
      }
    }
  }
  const shape = headsShape("bhsd", batch, qLen, qHeads, vHeadDim);
  const result = toLayout({ data: out, shape, layout: "bhsd" }, q.layout);
  return { output: result, lse };
}
