import type { Layout } from "@ropekit/core";
import { layoutDims } from "@ropekit/core";

/**
 * Attention sinks (GPT-OSS) applied to the kernel's sink-free result, row by row and exactly, as core
 * does for contract-v2 backends: with a sink logit σ for the row's head the softmax over [scores, σ] is
 * the sink-free one times e^(lse − lse′), lse′ = logaddexp(lse, σ). A NaN row stays NaN; a row that saw
 * no key stays zeros (its lse becomes σ).
 */
export function applySinks(
  plan: { batch: number; qHeads: number; qLen: number; vHeadDim: number },
  sinks: Float64Array,
  layout: Layout,
  output: Float32Array,
  lse: Float32Array,
): void {
  const { batch, qHeads, qLen, vHeadDim } = plan;
  const out = layoutDims(layout, batch, qLen, qHeads, vHeadDim);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const sink = sinks[h] as number;
      for (let i = 0; i < qLen; i++) {
        const r = (b * qHeads + h) * qLen + i;
        const l = lse[r] as number;
        if (Number.isNaN(l)) continue;
        const m = Math.max(l, sink);
        const total = m + Math.log(Math.exp(l - m) + Math.exp(sink - m));
        lse[r] = total;
        if (l === Number.NEGATIVE_INFINITY) continue;
        const f = Math.exp(l - total);
        const o = b * out.strideBatch + i * out.strideSeq + h * out.strideHead;
        for (let d = 0; d < vHeadDim; d++) output[o + d] = (output[o + d] as number) * f;
      }
    }
  }
}
