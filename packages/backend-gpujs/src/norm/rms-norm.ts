import { RopekitError, type RmsNormKernelPlan, type Tensor } from "@ropekit/core";
import { type GpuContext, type KernelThis, MAX_KERNEL_ELEMENTS } from "../gpu.js";

/** Longest loop the sum kernel may run (channels per row). */
const MAX_LOOP = 1 << 20;
/** Smallest normal f32: a row whose largest |x| is below it is left to the CPU (GPUs flush subnormals). */
const MIN_NORMAL = 2 ** -126;

/** Σ (x·scale)² of one row; `scale` (a power of two per row) brings the row's largest |x| into [2, 4). */
function sumSquaresKernel(this: KernelThis, x: Float32Array, scale: Float32Array, dim: number): number {
  const r = this.thread.x;
  const sc = scale[r] as number;
  let s = 0;
  for (let c = 0; c < dim; c++) {
    const v = (x[r * dim + c] as number) * sc;
    s += v * v;
  }
  return s;
}

/** One output element: (x·scale)·inv·(offset + w), inv = 1/√(mean((x·scale)²) + eps·scale²) from the CPU. */
function scaleKernel(
  this: KernelThis,
  x: Float32Array,
  scale: Float32Array,
  inv: Float32Array,
  w: Float32Array,
  dim: number,
  hasWeight: number,
  weightOffset: number,
): number {
  const idx = this.thread.x;
  const r = Math.floor((idx + 0.5) / dim);
  const c = idx - r * dim;
  let y = (x[idx] as number) * (scale[r] as number) * (inv[r] as number);
  if (hasWeight > 0.5) y *= weightOffset + (w[c] as number);
  return y;
}

/**
 * RMSNorm on the GPU, in calls of whole rows. A CPU pass finds each row's largest |x| and scales the row
 * by a power of two (exact) so its squares can neither overflow nor underflow f32 on the GPU; the sum of
 * squares runs on the GPU, 1/√(mean + eps) is taken in f64 on the CPU, the scaling on the GPU. Rows GL
 * cannot compute exactly (NaN or ±∞, all zeros, or only subnormal values) are computed on the CPU in f64.
 */
export async function rmsNorm(ctx: GpuContext, plan: RmsNormKernelPlan): Promise<Tensor<Float32Array>> {
  const { rows, dim, eps, weightOffset } = plan;
  if (dim > MAX_KERNEL_ELEMENTS) {
    throw new RopekitError(
      "TOO_LARGE",
      `x's last dimension ${dim} exceeds the 2^24 elements a gpujs kernel indexes exactly (f32 arithmetic)`,
      "x.shape",
    );
  }
  const src = plan.x.data as Float32Array;
  const w = plan.weight ? (plan.weight.data as Float32Array) : new Float32Array(1);
  const out = plan.inPlace ? src : new Float32Array(src.length);
  const scale = new Float32Array(rows);
  const onCpu: number[] = [];
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = r * dim; c < (r + 1) * dim; c++) {
      const a = Math.abs(src[c] as number);
      if (a > m) m = a;
      else if (Number.isNaN(a)) {
        m = a;
        break;
      }
    }
    if (m >= MIN_NORMAL && m < Number.POSITIVE_INFINITY) scale[r] = 2 ** (1 - Math.floor(Math.log2(m)));
    else onCpu.push(r);
  }

  // Before the GPU writes anything: in place, those rows of x are overwritten.
  const exact = onCpu.map((r) => rowInF64(src, r, dim, eps, plan.weight ? w : undefined, weightOffset));

  const sums = ctx.kernel("rms-norm-sum", sumSquaresKernel, { loops: MAX_LOOP });
  const scaled = ctx.kernel("rms-norm-scale", scaleKernel);
  const rowsPerCall = Math.max(1, Math.floor(ctx.chunk / dim));
  for (let r0 = 0; r0 < rows && onCpu.length < rows; r0 += rowsPerCall) {
    const n = Math.min(rowsPerCall, rows - r0);
    const x = src.subarray(r0 * dim, (r0 + n) * dim);
    const sc = scale.subarray(r0, r0 + n);
    const s = await ctx.read(sums, n, x, sc, dim);
    const inv = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      const f = sc[r] as number;
      // At most √dim (the scaled row holds a value ≥ 1): no overflow in f32, whatever the row's scale.
      if (f > 0) inv[r] = 1 / Math.sqrt((s[r] as number) / dim + eps * f * f);
    }
    const y = await ctx.read(scaled, n * dim, x, sc, inv, w, dim, plan.weight ? 1 : 0, weightOffset);
    out.set(y, r0 * dim);
  }
  for (const [i, r] of onCpu.entries()) out.set(exact[i] as Float32Array, r * dim);
  return { data: out, shape: [...plan.x.shape] };
}

/** One row as the f64 reference computes it, rounded to f32. */
function rowInF64(
  x: Float32Array,
  r: number,
  dim: number,
  eps: number,
  w: Float32Array | undefined,
  weightOffset: number,
): Float32Array {
  const row = x.subarray(r * dim, (r + 1) * dim);
  let sum = 0;
  for (const v of row) sum += v * v;
  const inv = 1 / Math.sqrt(sum / dim + eps);
  return row.map((v, c) => v * inv * (w ? weightOffset + (w[c] as number) : 1));
}
