import { isHalfDtype, tensorDtype, widenTensor } from "../dtype/dtype.js";
import { halfBits, halfValue } from "../dtype/half.js";
import { applyRopeReference } from "../rope/apply.js";
import { headsDims, headsShape, layoutDims } from "../tensor.js";
import type { AttentionKernelPlan, AttentionKernelResult } from "../backend/kernels.js";
import type { HeadsTensor } from "../types.js";
import {
  type AttentionOptions,
  type AttentionPlan,
  type AttentionResult,
  fusedRopePositions,
  kvHeadOf,
  planAttention,
  visibleKeys,
} from "./plan.js";

/**
 * The final score of query row i against key j before softmax, or −Infinity when the key is masked out.
 * `dot` is q·k. Order: scale, soft-cap, ALiBi and additive mask, then boolean / causal / window masks.
 */
export function attentionScore(
  plan: Omit<AttentionPlan, "rope" | "sinks">,
  dot: number,
  b: number,
  h: number,
  i: number,
  j: number,
): number {
  let s = dot * plan.scale;
  if (plan.softcap > 0) s = plan.softcap * Math.tanh(s / plan.softcap);
  if (plan.alibiSlopes) s += (plan.alibiSlopes[h] as number) * (j - (plan.qOffset + i));
  const m = plan.mask;
  if (m) {
    const value = m.data[b * m.strideBatch + h * m.strideHead + i * m.strideQuery + j] as number;
    // A removed key — boolean false or additive −∞ — is removed whatever q·k is (even NaN).
    if (m.boolean ? value === 0 : value === Number.NEGATIVE_INFINITY) return Number.NEGATIVE_INFINITY;
    if (!m.boolean) s += value;
  }
  return s;
}

/** The reference's view of one call: the plan, with q and k already rotated when RoPE is fused. */
interface ReferenceCall {
  /** Sinks are absent in a kernel's plan: core applies them to the kernel's result. */
  readonly plan: Omit<AttentionPlan, "rope" | "sinks"> & { readonly sinks?: Float64Array | undefined };
  readonly q: HeadsTensor;
  readonly k: HeadsTensor;
  readonly v: HeadsTensor;
}

function referenceCall(
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  options: AttentionOptions,
): ReferenceCall {
  const plan = planAttention(q, k, v, options);
  // Half inputs are read as the exact f64 values of their bits.
  q = widenTensor(q, "q");
  k = widenTensor(k, "k");
  v = widenTensor(v, "v");
  if (!plan.rope) return { plan, q, k, v };
  const positions = fusedRopePositions(plan);
  const qr = applyRopeReference(q, plan.rope.rope, { positions: positions.q });
  const kr = applyRopeReference(k, plan.rope.rope, { positions: positions.k });
  return { plan: { ...plan, q: headsDims(qr, "q"), k: headsDims(kr, "k") }, q: qr, k: kr, v };
}

/**
 * One query row (b, h, i) in f64: writes vHeadDim values at `out[outOffset…]` and returns the row's
 * log-sum-exp. `scores` is a kvLen scratch buffer. The numerics every backend must reproduce:
 * - a key removed by a mask, the causal/window bounds or a score of −∞ takes no part (its v is not read);
 * - a row where every key is removed gives zeros and lse −∞;
 * - a NaN score, a score of +∞ or a NaN/±∞ in the v of a taking-part key gives what IEEE arithmetic
 *   gives for the formula (NaN, or ±∞ from v), never a silent zero;
 * - finite inputs whose exact scores exceed the f32 range still give the exact result (computed in f64).
 */
function attentionRow(
  call: ReferenceCall,
  b: number,
  h: number,
  i: number,
  scores: Float64Array,
  out: Float64Array,
  outOffset: number,
): number {
  const { plan, q, k, v } = call;
  const { kvLen, headDim, vHeadDim } = plan;
  const kh = kvHeadOf(h, plan.qHeads, plan.kvHeads);
  const qo = b * plan.q.strideBatch + i * plan.q.strideSeq + h * plan.q.strideHead;
  const { lo, hi } = visibleKeys(plan, i);
  let max = Number.NEGATIVE_INFINITY;
  let nan = false;
  for (let j = 0; j < kvLen; j++) {
    if (j < lo || j >= hi) {
      scores[j] = Number.NEGATIVE_INFINITY;
      continue;
    }
    const ko = b * plan.k.strideBatch + j * plan.k.strideSeq + kh * plan.k.strideHead;
    let dot = 0;
    for (let d = 0; d < headDim; d++) dot += (q.data[qo + d] as number) * (k.data[ko + d] as number);
    const s = attentionScore(plan, dot, b, h, i, j);
    scores[j] = s;
    if (Number.isNaN(s)) nan = true;
    else if (s > max) max = s;
  }
  if (nan) {
    out.fill(Number.NaN, outOffset, outOffset + vHeadDim);
    return Number.NaN;
  }
  // A sink joins the denominator (and the max that keeps it finite) but has no value.
  const sink = plan.sinks ? (plan.sinks[h] as number) : Number.NEGATIVE_INFINITY;
  if (sink > max) max = sink;
  // Every key removed and no sink: the row is defined as zeros, lse −∞.
  if (max === Number.NEGATIVE_INFINITY) return Number.NEGATIVE_INFINITY;
  let sum = Math.exp(sink - max);
  for (let j = lo; j < hi; j++) sum += Math.exp((scores[j] as number) - max);
  for (let j = lo; j < hi; j++) {
    const s = scores[j] as number;
    // A removed key (score −∞) takes no part and its v is never read; a key that takes part passes NaN
    // and ±∞ in its v on (0·∞ = NaN), even when its weight underflowed to 0.
    if (s === Number.NEGATIVE_INFINITY) continue;
    const w = Math.exp(s - max) / sum;
    const vo = b * plan.v.strideBatch + j * plan.v.strideSeq + kh * plan.v.strideHead;
    for (let d = 0; d < vHeadDim; d++)
      out[outOffset + d] = (out[outOffset + d] as number) + w * (v.data[vo + d] as number);
  }
  return max + Math.log(sum);
}

/**
 * f64 reference of attention: for each query row, every visible key's score in a row buffer (O(kvLen)
 * memory, never qLen×kvLen), softmax, weighted sum of values. Obviously correct, not fast. Float16 and
 * bfloat16 inputs are read as their exact values; the output is f64 whatever the inputs.
 */
export function attentionReference(
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  options: AttentionOptions = {},
): AttentionResult {
  const call = referenceCall(q, k, v, options);
  const { output, lse } = attentionRows(call);
  return { output, lse: call.plan.returnLse ? lse : undefined };
}

/**
 * The reference's attention kernel: the same rows, from a plan core made (q and k already rotated); f64
 * output, rounded to the plan's dtype when that is a half.
 */
export function attentionReferenceKernel(plan: AttentionKernelPlan): AttentionKernelResult {
  const q = widenTensor(plan.qTensor, "q");
  const k = widenTensor(plan.kTensor, "k");
  const v = widenTensor(plan.vTensor, "v");
  const { output, lse } = attentionRows({ plan, q, k, v });
  if (!isHalfDtype(plan.outDtype)) return { output, lse };
  const bits = new Uint16Array(output.data.length);
  for (let i = 0; i < bits.length; i++) bits[i] = halfBits(output.data[i] as number, plan.outDtype);
  return { output: { ...output, data: bits, dtype: plan.outDtype }, lse };
}

function attentionRows(call: ReferenceCall): { output: HeadsTensor; lse: Float64Array } {
  const { plan } = call;
  const { batch, qHeads, qLen, vHeadDim } = plan;
  const layout = call.q.layout;
  const shape = headsShape(layout, batch, qLen, qHeads, vHeadDim);
  const outData = new Float64Array(batch * qHeads * qLen * vHeadDim);
  const out = layoutDims(layout, batch, qLen, qHeads, vHeadDim);
  const lse = new Float64Array(batch * qHeads * qLen);
  const scores = new Float64Array(plan.kvLen);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      for (let i = 0; i < qLen; i++) {
        const oo = b * out.strideBatch + i * out.strideSeq + h * out.strideHead;
        lse[(b * qHeads + h) * qLen + i] = attentionRow(call, b, h, i, scores, outData, oo);
      }
    }
  }
  return { output: { data: outData, shape, layout }, lse };
}

/**
 * The safety net of every f32 attention kernel: finds the query rows whose f32 result is not finite
 * (NaN or ±∞ in the output or the lse — an overflow from huge but finite inputs, or non-finite inputs)
 * and, with `recheckMasked`, rows reported fully masked (lse −∞), recomputes exactly those rows with the
 * f64 reference and writes its result, rounded to f32, over the kernel's. Rows that came out finite are
 * not touched, so the cost is zero on ordinary inputs. Returns how many rows it recomputed.
 *
 * `lse` must hold every row's log-sum-exp ([batch, qHeads, qLen]) whether or not the caller asked for it.
 * A float16/bfloat16 output (Uint16Array bits with its `dtype`) is read and written in its format.
 */
export function repairAttentionRows(
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  options: AttentionOptions,
  output: HeadsTensor<Float32Array | Uint16Array>,
  lse: Float32Array,
  recheckMasked = false,
): number {
  const dtype = output.data instanceof Uint16Array ? tensorDtype(output, "output") : "float32";
  const half = isHalfDtype(dtype) ? dtype : undefined;
  const valueAt = (i: number) => {
    const x = output.data[i] as number;
    return half ? halfValue(x, half) : x;
  };
  // The output's own shape gives the rows; the inputs are read (and planned) only when a row needs it.
  const [batch, a, b2, vHeadDim] = output.shape;
  const [qLen, qHeads] = output.layout === "bshd" ? [a, b2] : [b2, a];
  const out = layoutDims(output.layout, batch, qLen, qHeads, vHeadDim);
  let call: ReferenceCall | undefined;
  let scores: Float64Array | undefined;
  let row: Float64Array | undefined;
  let repaired = 0;
  for (let bi = 0; bi < batch; bi++) {
    for (let h = 0; h < qHeads; h++) {
      for (let i = 0; i < qLen; i++) {
        const r = (bi * qHeads + h) * qLen + i;
        const oo = bi * out.strideBatch + i * out.strideSeq + h * out.strideHead;
        const l = lse[r] as number;
        let bad =
          Number.isNaN(l) ||
          l === Number.POSITIVE_INFINITY ||
          (recheckMasked && l === Number.NEGATIVE_INFINITY);
        for (let d = 0; d < vHeadDim && !bad; d++) bad = !Number.isFinite(valueAt(oo + d));
        if (!bad) continue;
        call ??= referenceCall(q, k, v, options);
        scores ??= new Float64Array(call.plan.kvLen);
        row ??= new Float64Array(vHeadDim);
        row.fill(0);
        lse[r] = attentionRow(call, bi, h, i, scores, row, 0);
        for (let d = 0; d < vHeadDim; d++) {
          const x = row[d] as number;
          output.data[oo + d] = half ? halfBits(x, half) : x;
        }
        repaired++;
      }
    }
  }
  return repaired;
}
