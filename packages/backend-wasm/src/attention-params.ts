import type { AttentionPlan, Layout } from "@ropekit/core";

/** i32 words of the attention kernel's parameter block (see assembly/attention.ts). */
export const PARAM_WORDS = 40;

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

/** Writes the parameter block of worker `w` of `workers` at byte address `params`. */
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
  view.i32.set(
    [
      plan.batch,
      plan.qHeads,
      plan.kvHeads,
      plan.qLen,
      plan.kvLen,
      plan.headDim,
      plan.vHeadDim,
      plan.qOffset,
      plan.causal ? 1 : 0,
      plan.window,
      at.q.ptr,
      at.k.ptr,
      at.v.ptr,
      at.out,
      at.lse,
      at.q.strideBatch,
      at.q.strideSeq,
      at.q.strideHead,
      at.k.strideBatch,
      at.k.strideSeq,
      at.k.strideHead,
      at.v.strideBatch,
      at.v.strideSeq,
      at.v.strideHead,
      od.strideBatch,
      od.strideSeq,
      od.strideHead,
      at.mask,
      plan.mask?.boolean ? 1 : 0,
      plan.mask?.strideBatch ?? 0,
      plan.mask?.strideHead ?? 0,
      plan.mask?.strideQuery ?? 0,
      at.alibi,
      scratch,
    ],
    p,
  );
  view.f32[p + 34] = plan.scale;
  view.f32[p + 35] = plan.softcap;
  view.i32[p + 36] = w;
  view.i32[p + 37] = workers;
  view.i32[p + 38] = at.counter;
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
