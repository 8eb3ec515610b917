import type { LinearKernelPlan, Tensor } from "@ropekit/core";

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
    for (; o + 4 <= outFeatures; o += 4) {
      const w0 = o * n;
      const w1 = w0 + n;
      const w2 = w1 + n;
      const w3 = w2 + n;
      let s0 = b ? (b[o] as number) : 0;
      let s1 = b ? (b[o + 1] as number) : 0;
      let s2 = b ? (b[o + 2] as number) : 0;
      let s3 = b ? (b[o + 3] as number) : 0;
      for (let i = 0; i < n; i++) {
        const xi = xs[xo + i] as number;
        s0 += xi * (w[w0 + i] as number);
        s1 += xi * (w[w1 + i] as number);
        s2 += xi * (w[w2 + i] as number);
        s3 += xi * (w[w3 + i] as number);
      }
      out[r * outFeatures + o] = s0;
      out[r * outFeatures + o + 1] = s1;
      out[r * outFeatures + o + 2] = s2;
      out[r * outFeatures + o + 3] = s3;
    }
    for (; o < outFeatures; o++) {
      let s = b ? (b[o] as number) : 0;
      for (let i = 0; i < n; i++) s += (xs[xo + i] as number) * (w[o * n + i] as number);
      out[r * outFeatures + o] = s;
    }
  }
  return { data: out, shape: outShape };
}
