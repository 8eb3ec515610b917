import type { RmsNormPlan } from "@ropekit/core";

/**
 * RMSNorm over the last dimension, on the host: f64 sum of squares per row, then one pass to scale into
 * `out` (which may be `x`). O(N) work, memory-bound: a copy into wasm memory would cost as much.
 */
export function rmsNormRows(
  x: Float32Array,
  weight: Float32Array | undefined,
  out: Float32Array,
  plan: RmsNormPlan,
): void {
  const { rows, dim, eps, weightOffset } = plan;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let sum = 0;
    for (let c = 0; c < dim; c++) sum += (x[o + c] as number) ** 2;
    const inv = 1 / Math.sqrt(sum / dim + eps);
    if (weight)
      for (let c = 0; c < dim; c++)
        out[o + c] = (x[o + c] as number) * inv * (weightOffset + (weight[c] as number));
    else for (let c = 0; c < dim; c++) out[o + c] = (x[o + c] as number) * inv;
  }
}
