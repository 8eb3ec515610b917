import {
  type HalfDtype,
  type LinearKernelPlan,
  type Tensor,
  decodeHalf,
  isHalfDtype,
  narrowData,
  widenData,
} from "@ropekit/core";
import { dot1, dot4 } from "./dot.js";

/** Output features per pass: their weight rows are decoded once and used for every row of x. */
const BLOCK = 4;

/**
 * y = x·Wᵀ + b with float16 / bfloat16 weights read where they lie: each block of 4 weight rows is decoded
 * (exactly) into a small f32 buffer and applied to every row of x, so the weights are never copied whole
 * to f32 — their half-size memory is the point of storing them so. x and the bias are decoded whole
 * (small next to W). Accumulates in f64 like the f32 kernel; the output is in the plan's dtype (x's).
 */
export function linearHalfWeights(plan: LinearKernelPlan): Tensor {
  const { rows, inFeatures: n, outFeatures, outShape, x, bias } = plan;
  const xs = isHalfDtype(x.dtype) ? widenData(x.data, x.dtype, "float32") : x.data;
  const b = bias && (isHalfDtype(bias.dtype) ? widenData(bias.data, bias.dtype, "float32") : bias.data);
  const w = plan.weight.data as Uint16Array;
  const wDtype = plan.weight.dtype as HalfDtype;
  const out = new Float32Array(rows * outFeatures);
  const block = new Float32Array(BLOCK * n);
  for (let o = 0; o < outFeatures; o += BLOCK) {
    const m = Math.min(BLOCK, outFeatures - o);
    decodeHalf(w, wDtype, block, o * n, m * n, 0);
    for (let r = 0; r < rows; r++) {
      const xo = r * n;
      const at = r * outFeatures + o;
      if (m === BLOCK) dot4(xs, xo, block, 0, n, b, o, out, at);
      else for (let j = 0; j < m; j++) dot1(xs, xo, block, j * n, n, b, o + j, out, at + j);
    }
  }
  if (!isHalfDtype(plan.outDtype)) return { data: out, shape: outShape };
  return { data: narrowData(out, plan.outDtype), shape: outShape, dtype: plan.outDtype };
}
