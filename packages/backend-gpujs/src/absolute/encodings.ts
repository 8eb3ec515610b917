import {
  type AddLearnedOptions,
  type AddSinusoidalOptions,
  type EmbeddingTensor,
  type Tensor,
  planAddLearned,
  planAddSinusoidal,
  positionAt,
  sinusoidalReference,
} from "@ropekit/core";
import type { GpuContext, KernelThis } from "../gpu.js";

function addKernel(this: KernelThis, x: Float32Array, e: Float32Array): number {
  return (x[this.thread.x] as number) + (e[this.thread.x] as number);
}

/** out = x + e elementwise on the GPU, in calls of at most 2^22 elements. */
async function addOnGpu(ctx: GpuContext, x: Float32Array, e: Float32Array, out: Float32Array): Promise<void> {
  const kernel = ctx.kernel("add", addKernel);
  for (let i0 = 0; i0 < x.length; i0 += ctx.chunk) {
    const n = Math.min(x.length - i0);
    out.set(await ctx.read(kernel, n, x.subarray(i0, i0 + n), e.subarray(i0, i0 + n)), i0);
  }
}

/** The sinusoidal table: trig on the CPU in f64 (GPU sin/cos are off by ~2e-4 in software renderers). */
export function sinusoidalTable(
  positions: Parameters<typeof sinusoidalReference>[0],
  dim: number,
  base?: number,
): Tensor<Float32Array> {
  const ref = sinusoidalReference(positions, dim, base);
  return { data: new Float32Array(ref.data), shape: ref.shape };
}

/** x + PE(position): the encoding of every token from the CPU (f64 trig), the add on the GPU. */
export async function addSinusoidalOnGpu(
  ctx: GpuContext,
  x: EmbeddingTensor,
  src: Float32Array,
  options: AddSinusoidalOptions,
): Promise<EmbeddingTensor<Float32Array>> {
  const plan = planAddSinusoidal(x, options);
  const [batch, seq, dim] = plan.dims;
  const positions: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let s = 0; s < seq; s++) positions.push(positionAt(plan.positions, b, s, seq));
  const encoding = sinusoidalTable(positions, dim, options.base).data;
  const out = plan.inPlace ? src : new Float32Array(src.length);
  await addOnGpu(ctx, src, encoding, out);
  return { data: out, shape: [batch, seq, dim] };
}

/** x + table[position]: the rows gathered on the CPU, the add on the GPU. */
export async function addLearnedOnGpu(
  ctx: GpuContext,
  x: EmbeddingTensor,
  src: Float32Array,
  table: Tensor,
  options: AddLearnedOptions,
): Promise<EmbeddingTensor<Float32Array>> {
  const plan = planAddLearned(x, table, options);
  const [batch, seq, dim] = plan.dims;
  const gathered = new Float32Array(batch * seq * dim);
  for (let t = 0; t < batch * seq; t++) {
    const r = (plan.rows[t] as number) * dim;
    gathered.set(table.data.subarray(r, r + dim), t * dim);
  }
  const out = plan.inPlace ? src : new Float32Array(src.length);
  await addOnGpu(ctx, src, gathered, out);
  return { data: out, shape: [batch, seq, dim] };
}
