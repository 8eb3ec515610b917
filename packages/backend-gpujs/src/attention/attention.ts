import {
  type AttentionKernelPlan,
  type AttentionKernelResult,
  type HeadsDims,
  RopekitError,
  type TensorData,
  headRowMeasure,
  headsShape,
  layoutDims,
} from "@ropekit/core";
import { type GpuContext, type KernelArgument, MAX_KERNEL_ELEMENTS, toFloat32 } from "../gpu.js";
import { groupKeys, prepareBlock, zeroRows } from "./prepass.js";
import { outputKernel, rowMaxKernel, rowSumKernel, scoresKernel } from "./shaders.js";

/** Longest loop a kernel may run (keys per row, channels per head). */
const MAX_LOOP = 1 << 20;

/**
 * Attention on the GPU in blocks of query rows (q and k already rotated by core when RoPE is fused). For
 * each (batch, kv head) group and each block of its query rows, the four kernels of shaders.ts; the
 * scores buffer (block × kvLen) is the only quadratic one, bounded by the block size, so peak GPU memory
 * is O(block·kvLen + N·d), never qLen×kvLen. The CPU pass of prepass.ts flags the rows f32 GL cannot
 * compute: they get lse NaN, and core recomputes them — and the rows no key is left to (lse −∞), as the
 * definition asks with `recheckMaskedRows` — in f64. Returns the output in q's layout and every row's lse.
 */
export async function attention(ctx: GpuContext, plan: AttentionKernelPlan): Promise<AttentionKernelResult> {
  const { batch, qHeads, kvHeads, qLen, kvLen, headDim, vHeadDim } = plan;
  // Kernels index per (batch, kv head) group, so only a group's keys and values must stay below 2^24.
  if (kvLen * Math.max(headDim, vHeadDim) > MAX_KERNEL_ELEMENTS) {
    throw new RopekitError(
      "TOO_LARGE",
      `${kvLen} keys × ${Math.max(headDim, vHeadDim)} channels per kv head exceed the 2^24 elements a gpujs kernel indexes exactly (f32 arithmetic)`,
      "k.shape",
    );
  }
  const qb = bhsd(plan.qTensor.data, plan.q);
  const kb = bhsd(plan.kTensor.data, plan.k);
  const vb = bhsd(plan.vTensor.data, plan.v);
  const qNorm = headRowMeasure(plan.qTensor.data, plan.q);
  const kNorm = headRowMeasure(plan.kTensor.data, plan.k);
  const vMax = headRowMeasure(plan.vTensor.data, plan.v, true);
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
  // Every row's lse, asked for or not: core's repair finds the rows to recompute by it.
  const lse = new Float32Array(batch * qHeads * qLen);
  for (let b = 0; b < batch; b++) {
    for (let kvh = 0; kvh < kvHeads; kvh++) {
      const headBase = kvh * group;
      const kvBase = (b * kvHeads + kvh) * kSeq;
      // The query rows of the group's heads are contiguous in bhsd.
      const qRowBase = (b * qHeads + headBase) * qLen;
      const groupQNorm = qNorm.subarray(qRowBase, qRowBase + groupRows);
      const keys = groupKeys(kNorm, vMax, kvBase, kvLen, groupQNorm, plan.scale);
      // Keys the kernels must not read hold zeros in their copies (rows that see them are flagged).
      const kSlice = zeroRows(
        kb.subarray(kvBase * headDim, (kvBase + kvLen) * headDim),
        keys.badList,
        headDim,
      );
      const vSlice = zeroRows(
        vb.subarray(kvBase * vHeadDim, (kvBase + kvLen) * vHeadDim),
        keys.badList,
        vHeadDim,
      );
      for (let r0 = 0; r0 < groupRows; r0 += blockRows) {
        const n = Math.min(blockRows, groupRows - r0);
        const block = prepareBlock(plan, b, headBase, r0, n, groupQNorm, keys);
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
        // log-sum-exp in f64 on the CPU from the row max, sum and mask shift: −∞ for a row that sees no key,
        // NaN for a flagged row (core recomputes both).
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
  const layout = plan.qTensor.layout;
  return {
    output: {
      data: fromBhsd(out, layoutDims(layout, batch, qLen, qHeads, vHeadDim)),
      shape: headsShape(layout, batch, qLen, qHeads, vHeadDim),
      layout,
    },
    lse,
  };
}

/** A head tensor's data in bhsd order as f32: `data` itself when it is already, else a copy. */
function bhsd(data: TensorData, d: HeadsDims): Float32Array {
  if (d.layout === "bhsd" && data instanceof Float32Array) return data;
  const out = new Float32Array(d.batch * d.heads * d.seq * d.headDim);
  let o = 0;
  for (let b = 0; b < d.batch; b++) {
    for (let h = 0; h < d.heads; h++) {
      for (let s = 0; s < d.seq; s++, o += d.headDim) {
        const at = b * d.strideBatch + h * d.strideHead + s * d.strideSeq;
        out.set(data.subarray(at, at + d.headDim), o);
      }
    }
  }
  return out;
}

/** bhsd-ordered `data` laid out as `d` says: `data` itself for bhsd. */
function fromBhsd(data: Float32Array, d: HeadsDims): Float32Array {
  if (d.layout === "bhsd") return data;
  const out = new Float32Array(data.length);
  let o = 0;
  for (let b = 0; b < d.batch; b++) {
    for (let h = 0; h < d.heads; h++) {
      for (let s = 0; s < d.seq; s++, o += d.headDim) {
        out.set(data.subarray(o, o + d.headDim), b * d.strideBatch + h * d.strideHead + s * d.strideSeq);
      }
    }
  }
  return out;
}
