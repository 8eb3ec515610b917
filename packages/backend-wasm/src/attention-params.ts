import type { AttentionPlan, Layout } from "@ropekit/core";
import * as P from "./attention-layout.js";

export { PARAM_WORDS } from "./attention-layout.js";

/** An operand in wasm memory: its address and element strides [batch, seq, head]. */
export interface Placed {
  readonly ptr: number;
  readonly strideBatch: number;
  readonly strideSeq: number;
  readonly strideHead: number;
}

/** Addresses of one attention call's buffers in wasm memory (0 for none). */
export interface AttentionBuffers {
  readonly q: Placed;
  readonly k: Placed;
  readonly v: Placed;
  readonly out: number;
  readonly lse: number;
  readonly mask: number;
  readonly alibi: number;
  readonly counter: number;
}

/** Output strides (elements) in q's layout: [batch, seq, head]. */
function outputStrides(plan: AttentionPlan, layout: Layout): Omit<Placed, "ptr"> {
  const { qLen: S, qHeads: H, vHeadDim: D } = plan;
  return layout === "bshd"
    ? { strideBatch: S * H * D, strideSeq: H * D, strideHead: D }
    : { strideBatch: H * S * D, strideSeq: D, strideHead: S * D };
}

/** Writes the parameter block (src/attention-layout.ts) of worker `w` of `workers` at byte address `params`. */
export function writeAttentionParams(
  view: { i32: Int32Array; f32: Float32Array },
  params: number,
  plan: AttentionPlan,
  layout: Layout,
  at: AttentionBuffers,
  scratch: number,
  w: number,
  workers: number,
): void {
  const od = outputStrides(plan, layout);
  const p = params >>> 2;
  const i32 = (word: number, value: number) => {
    view.i32[p + word] = value;
  };
  i32(P.BATCH, plan.batch);
  i32(P.Q_HEADS, plan.qHeads);
  i32(P.KV_HEADS, plan.kvHeads);
  i32(P.Q_LEN, plan.qLen);
  i32(P.KV_LEN, plan.kvLen);
  i32(P.HEAD_DIM, plan.headDim);
  i32(P.V_HEAD_DIM, plan.vHeadDim);
  i32(P.Q_OFFSET, plan.qOffset);
  i32(P.CAUSAL, plan.causal ? 1 : 0);
  i32(P.WINDOW, plan.window);
  i32(P.Q_PTR, at.q.ptr);
  i32(P.K_PTR, at.k.ptr);
  i32(P.V_PTR, at.v.ptr);
  i32(P.OUT_PTR, at.out);
  i32(P.LSE_PTR, at.lse);
  i32(P.Q_STRIDE_BATCH, at.q.strideBatch);
  i32(P.Q_STRIDE_SEQ, at.q.strideSeq);
  i32(P.Q_STRIDE_HEAD, at.q.strideHead);
  i32(P.K_STRIDE_BATCH, at.k.strideBatch);
  i32(P.K_STRIDE_SEQ, at.k.strideSeq);
  i32(P.K_STRIDE_HEAD, at.k.strideHead);
  i32(P.V_STRIDE_BATCH, at.v.strideBatch);
  i32(P.V_STRIDE_SEQ, at.v.strideSeq);
  i32(P.V_STRIDE_HEAD, at.v.strideHead);
  i32(P.OUT_STRIDE_BATCH, od.strideBatch);
  i32(P.OUT_STRIDE_SEQ, od.strideSeq);
  i32(P.OUT_STRIDE_HEAD, od.strideHead);
  i32(P.MASK_PTR, at.mask);
  i32(P.MASK_BOOLEAN, plan.mask?.boolean ? 1 : 0);
  i32(P.MASK_STRIDE_BATCH, plan.mask?.strideBatch ?? 0);
  i32(P.MASK_STRIDE_HEAD, plan.mask?.strideHead ?? 0);
  i32(P.MASK_STRIDE_QUERY, plan.mask?.strideQuery ?? 0);
  i32(P.ALIBI_PTR, at.alibi);
  i32(P.SCRATCH_PTR, scratch);
  view.f32[p + P.SCALE] = plan.scale;
  view.f32[p + P.SOFTCAP] = plan.softcap;
  i32(P.WORK_FIRST, w);
  i32(P.WORK_STEP, workers);
  i32(P.WORK_COUNTER, at.counter);
}

/**
 * An additive mask as f32, and whether a finite f64 value overflowed to −∞ there: the kernel would
 * then drop keys the reference keeps, so fully masked rows must be rechecked in f64.
 */
export function maskToF32(data: Float32Array | Float64Array): { values: Float32Array; overflow: boolean } {
  if (data instanceof Float32Array) return { values: data, overflow: false };
  const values = new Float32Array(data);
  let overflow = false;
  for (let i = 0; i < data.length; i++) {
    if (values[i] === Number.NEGATIVE_INFINITY && data[i] !== Number.NEGATIVE_INFINITY) {
      overflow = true;
      break;
    }
  }
  return { values, overflow };
}
