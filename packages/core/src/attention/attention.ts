import { applyRopeReference } from "../rope/apply.js";
import { headsDims, headsShape } from "../tensor.js";
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
  plan: AttentionPlan,
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
    if (m.boolean) {
      if (value === 0) return Number.NEGATIVE_INFINITY;
    } else s += value;
  }
  return s;
}

/**
 * f64 reference of attention: for each query row, every visible key's score in a row buffer (O(kvLen)
 * memory, never qLen×kvLen), softmax, weighted sum of values. Obviously correct, not fast.
 */
export function attentionReference(
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  options: AttentionOptions = {},
): AttentionResult {
  let plan = planAttention(q, k, v, options);
  if (plan.rope) {
    const positions = fusedRopePositions(plan);
    q = applyRopeReference(q, plan.rope.rope, { positions: positions.q });
    k = applyRopeReference(k, plan.rope.rope, { positions: positions.k });
    plan = { ...plan, q: headsDims(q, "q"), k: headsDims(k, "k") };
  }
  const { batch, qHeads, kvHeads, qLen, kvLen, headDim, vHeadDim } = plan;
  const shape = headsShape(q.layout, batch, qLen, qHeads, vHeadDim);
  const outData = new Float64Array(batch * qHeads * qLen * vHeadDim);
  const out = headsDims({ data: outData, shape, layout: q.layout }, "output");
  const lse = plan.returnLse ? new Float64Array(batch * qHeads * qLen) : undefined;
  const scores = new Float64Array(kvLen);

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const kh = kvHeadOf(h, qHeads, kvHeads);
      for (let i = 0; i < qLen; i++) {
        const qo = b * plan.q.strideBatch + i * plan.q.strideSeq + h * plan.q.strideHead;
        const { lo, hi } = visibleKeys(plan, i);
        let max = Number.NEGATIVE_INFINITY;
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
          if (s > max) max = s;
        }
        const oo = b * out.strideBatch + i * out.strideSeq + h * out.strideHead;
        if (max === Number.NEGATIVE_INFINITY) {
          // Every key masked: the row is defined as zeros (already), lse −∞.
          if (lse) lse[(b * qHeads + h) * qLen + i] = Number.NEGATIVE_INFINITY;
          continue;
        }
        let sum = 0;
        for (let j = 0; j < kvLen; j++) {
          const w = Math.exp((scores[j] as number) - max);
          scores[j] = w;
          sum += w;
        }
        for (let j = 0; j < kvLen; j++) {
          const w = (scores[j] as number) / sum;
          if (w === 0) continue;
          const vo = b * plan.v.strideBatch + j * plan.v.strideSeq + kh * plan.v.strideHead;
          for (let d = 0; d < vHeadDim; d++)
            outData[oo + d] = (outData[oo + d] as number) + w * (v.data[vo + d] as number);
        }
        if (lse) lse[(b * qHeads + h) * qLen + i] = max + Math.log(sum);
      }
    }
  }
  return { output: { data: outData, shape, layout: q.layout }, lse };
}
