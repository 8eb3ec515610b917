import type { LinearKernelPlan, Tensor } from "@ropekit/core";
import type { GpuContext, KernelThis } from "../gpu.js";

/** One output feature of one row: the dot product of an input row and a weight row, plus the bias. */
function linearKernel(
  this: KernelThis,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array,
  inFeatures: number,
  outFeatures: number,
  hasBias: number,
): number {
  const idx = this.thread.x;
  const r = Math.floor((idx + 0.5) / outFeatures);
  const o = idx - r * outFeatures;
  let s = 0;
  if (hasBias > 0.5) s = bias[o] as number;
  for (let i = 0; i < inFeatures; i++)
    s += (x[r * inFeatures + i] as number) * (w[o * inFeatures + i] as number);
  return s;
}

/**
 * y = x·Wᵀ + b on the GPU, tiled over rows and output features so no kernel input or output passes
 * `ctx.chunk` elements (exact f32 indexing, bounded textures).
 */
export async function linear(ctx: GpuContext, plan: LinearKernelPlan): Promise<Tensor<Float32Array>> {
  const { rows, inFeatures, outFeatures, outShape } = plan;
  const xs = plan.x.data as Float32Array;
  const w = plan.weight.data as Float32Array;
  const b = plan.bias ? (plan.bias.data as Float32Array) : new Float32Array(1);
  const out = new Float32Array(rows * outFeatures);
  const kernel = ctx.kernel("linear", linearKernel, { loops: 1 << 20 });
  const outPerCall = Math.max(1, Math.min(outFeatures, Math.floor(ctx.chunk / inFeatures)));
  for (let o0 = 0; o0 < outFeatures; o0 += outPerCall) {
    const no = Math.min(outPerCall, outFeatures - o0);
    const rowsPerCall = Math.max(1, Math.floor(ctx.chunk / Math.max(inFeatures, no)));
    const wPart = w.subarray(o0 * inFeatures, (o0 + no) * inFeatures);
    const bPart = plan.bias ? b.subarray(o0, o0 + no) : b;
    for (let r0 = 0; r0 < rows; r0 += rowsPerCall) {
      const nr = Math.min(rowsPerCall, rows - r0);
      const part = await ctx.read(
        kernel,
        nr * no,
        xs.subarray(r0 * inFeatures, (r0 + nr) * inFeatures),
        wPart,
        bPart,
        inFeatures,
        no,
        plan.bias ? 1 : 0,
      );
      for (let r = 0; r < nr; r++) out.set(part.subarray(r * no, (r + 1) * no), (r0 + r) * outFeatures + o0);
    }
  }
  return { data: out, shape: [...outShape] };
}
