import type { AddRowsKernelPlan, EmbeddingTensor } from "@ropekit/core";
import type { GpuContext, KernelThis } from "../gpu.js";

function addKernel(this: KernelThis, x: Float32Array, e: Float32Array): number {
  return (x[this.thread.x] as number) + (e[this.thread.x] as number);
}

/**
 * out[t] = x[t] + table[rows[t]]: addLearned and addSinusoidal (whose encoding rows core computed in f64,
 * GPU sin/cos being off by ~2e-4 in software renderers). The rows are gathered on the CPU, the add runs on
 * the GPU in calls of at most `ctx.chunk` elements.
 */
export async function addRows(
  ctx: GpuContext,
  plan: AddRowsKernelPlan,
): Promise<EmbeddingTensor<Float32Array>> {
  const [batch, seq, dim] = plan.dims;
  const src = plan.x.data as Float32Array;
  const gathered = new Float32Array(batch * seq * dim);
  for (let t = 0; t < batch * seq; t++) {
    const r = (plan.rows[t] as number) * dim;
    gathered.set(plan.table.subarray(r, r + dim), t * dim);
  }
  const out = plan.inPlace ? src : new Float32Array(src.length);
  const kernel = ctx.kernel("add", addKernel);
  for (let i0 = 0; i0 < src.length; i0 += ctx.chunk) {
    const n = Math.min(ctx.chunk, src.length - i0);
    out.set(await ctx.read(kernel, n, src.subarray(i0, i0 + n), gathered.subarray(i0, i0 + n)), i0);
  }
  return { data: out, shape: [batch, seq, dim] };
}
