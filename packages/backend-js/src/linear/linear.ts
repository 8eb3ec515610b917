import type { LinearKernelPlan, Tensor } from "@ropekit/core";
import { dot1, dot4 } from "./dot.js";

/** y = x·Wᵀ + b in f32 storage, f64 accumulation; four output features per pass over an input row. */
export function linear(plan: LinearKernelPlan): Tensor<Float32Array> {
  const { rows, inFeatures: n, outFeatures, outShape } = plan;
  const xs = plan.x.data;
  const w = plan.weight.data;
  const b = plan.bias?.data;
  const out = new Float32Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    const xo = r * n;
    let o = 0;
    for (; o + 4 <= outFeatures; o += 4) dot4(xs, xo, w, o * n, n, b, o, out, r * outFeatures + o);
    for (; o < outFeatures; o++) dot1(xs, xo, w, o * n, n, b, o, out, r * outFeatures + o);
  }
  return { data: out, shape: outShape };
}
