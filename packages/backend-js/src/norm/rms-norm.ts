import type { RmsNormKernelPlan, Tensor } from "@ropekit/core";

/** RMSNorm over the last dimension: f64 sum of squares, one pass to scale; f32 storage. */
export function rmsNorm(plan: RmsNormKernelPlan): Tensor<Float32Array> {
  const { rows, dim, eps, weightOffset } = plan;
  const src = plan.x.data as Float32Array;
  const out = plan.inPlace ? src : new Float32Array(src.length);
  const w = plan.weight?.data;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let sum = 0;
    for (let c = 0; c < dim; c++) sum += (src[o + c] as number) ** 2;
    const inv = 1 / Math.sqrt(sum / dim + eps);
    if (w)
      for (let c = 0; c < dim; c++)
        out[o + c] = (src[o + c] as number) * inv * (weightOffset + (w[c] as number));
    else for (let c = 0; c < dim; c++) out[o + c] = (src[o + c] as number) * inv;
  }
  return { data: out, shape: [...plan.x.shape] };
}
