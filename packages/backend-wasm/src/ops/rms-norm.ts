import type { RmsNormKernelPlan, Tensor } from "@ropekit/core";
import type { Env } from "../scope.js";

/**
 * RMSNorm over the last dimension, on the host: f64 sum of squares per row, then one pass to scale into
 * the output (which may be x). Resident views are only checked (DISPOSED), never kept.
 */
export function rmsNorm(env: Env, plan: RmsNormKernelPlan): Tensor<Float32Array> {
  const { rows, dim, eps, weightOffset } = plan;
  const x = plan.x.data as Float32Array;
  const w = plan.weight?.data as Float32Array | undefined;
  env.residents.find(x, "x.data");
  if (w) env.residents.find(w, "weight.data");
  const out = plan.inPlace ? x : new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let sum = 0;
    for (let c = 0; c < dim; c++) sum += (x[o + c] as number) ** 2;
    const inv = 1 / Math.sqrt(sum / dim + eps);
    if (w)
      for (let c = 0; c < dim; c++)
        out[o + c] = (x[o + c] as number) * inv * (weightOffset + (w[c] as number));
    else for (let c = 0; c < dim; c++) out[o + c] = (x[o + c] as number) * inv;
  }
  return { data: out, shape: [...plan.x.shape] };
}
