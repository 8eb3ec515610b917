import {
  type ApplyRopeOptions,
  type AttentionOptions,
  type AttentionResult,
  type HeadsTensor,
  type RopeInput,
  fusedRopePositions,
  headsDims,
  headsShape,
  planAttention,
} from "@ropekit/core";
import { requireFloat32 } from "../dtype.js";
import { flashAttention } from "./flash.js";

type ApplyRope = (x: HeadsTensor, rope: RopeInput, options?: ApplyRopeOptions) => HeadsTensor;

/** Attention on backend-js: validation in core, the tiled kernel here, fused RoPE through applyRope. */
export function attention(
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  options: AttentionOptions = {},
  applyRope: ApplyRope,
): AttentionResult {
  let plan = planAttention(q, k, v, options);
  requireFloat32(q.data, "q.data");
  requireFloat32(k.data, "k.data");
  requireFloat32(v.data, "v.data");
  if (plan.rope) {
    // Fused RoPE rotates copies of q and k (O(N·d) extra); the caller's tensors are untouched.
    const positions = fusedRopePositions(plan);
    q = applyRope(q, plan.rope.rope, { positions: positions.q });
    k = applyRope(k, plan.rope.rope, { positions: positions.k });
    plan = { ...plan, q: headsDims(q, "q"), k: headsDims(k, "k") };
  }
  const shape = headsShape(q.layout, plan.batch, plan.qLen, plan.qHeads, plan.vHeadDim);
  const out = new Float32Array(plan.batch * plan.qHeads * plan.qLen * plan.vHeadDim);
  const dims = headsDims({ data: out, shape, layout: q.layout }, "output");
  const lse = plan.returnLse ? new Float32Array(plan.batch * plan.qHeads * plan.qLen) : undefined;
  flashAttention(
    plan,
    q.data as Float32Array,
    k.data as Float32Array,
    v.data as Float32Array,
    out,
    { batch: dims.strideBatch, seq: dims.strideSeq, head: dims.strideHead },
    lse,
  );
  return { output: { data: out, shape, layout: q.layout }, lse };
}
