import { type AttentionKernelPlan, type AttentionKernelResult, headsShape, layoutDims } from "@ropekit/core";
import { flashAttention } from "./flash.js";

/** Attention on backend-js: core planned the call (and rotated q and k for fused RoPE); the tiled kernel runs here. */
export function attention(plan: AttentionKernelPlan): AttentionKernelResult {
  const layout = plan.qTensor.layout;
  const shape = headsShape(layout, plan.batch, plan.qLen, plan.qHeads, plan.vHeadDim);
  const out = new Float32Array(plan.batch * plan.qHeads * plan.qLen * plan.vHeadDim);
  const dims = layoutDims(layout, plan.batch, plan.qLen, plan.qHeads, plan.vHeadDim);
  const lse = new Float32Array(plan.batch * plan.qHeads * plan.qLen);
  flashAttention(
    plan,
    plan.qTensor.data as Float32Array,
    plan.kTensor.data as Float32Array,
    plan.vTensor.data as Float32Array,
    out,
    { batch: dims.strideBatch, seq: dims.strideSeq, head: dims.strideHead },
    lse,
  );
  return { output: { data: out, shape, layout }, lse };
}
