import type { HeadsTensor, RopeKernelPlan } from "@ropekit/core";

/** applyRope: rotates a copy of x (or x itself in place). */
export function applyRope(plan: RopeKernelPlan): HeadsTensor<Float32Array> {
  const src = plan.x.data as Float32Array;
  // Out of place: copy once (keeps pass-through channels), then rotate the copy. The typed-array
  // constructor copies several times faster than slice() in V8.
  const out = plan.inPlace ? src : new Float32Array(src);
  rotateInPlace(out, plan);
  return { data: out, shape: [...plan.x.shape] as [number, number, number, number], layout: plan.x.layout };
}

/**
 * Rotates `x` in place with f32 tables: one pass over the data, the cos/sin row of a token loaded once
 * and reused for all its heads. No allocation inside the loops.
 */
function rotateInPlace(x: Float32Array, plan: RopeKernelPlan): void {
  const { dims, spec, table, rows } = plan;
  const { batch, seq, heads, strideBatch, strideSeq, strideHead } = dims;
  const half = spec.rotaryDim / 2;
  const cos = table.cos;
  const sin = table.sin;
  // Inverse: rotate by −angle and undo the attention scale folded into the table (c² + s² = scale²).
  const sign = plan.inverse ? -1 : 1;
  const mul = plan.inverse ? 1 / (table.attentionScale * table.attentionScale) : 1;
  // Offset of the partner channel: j + r/2 for half pairing, 2i + 1 for interleaved.
  const interleaved = spec.pairing === "interleaved";
  const partner = interleaved ? 1 : half;
  const step = interleaved ? 2 : 1;

  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      const t = rows[b * seq + s] as number;
      const tableOffset = t * half;
      const tokenOffset = b * strideBatch + s * strideSeq;
      for (let h = 0; h < heads; h++) {
        const o = tokenOffset + h * strideHead;
        for (let i = 0; i < half; i++) {
          const c = cos[tableOffset + i] as number;
          const sn = sign * (sin[tableOffset + i] as number);
          const ia = o + i * step;
          const ib = ia + partner;
          const a = x[ia] as number;
          const bv = x[ib] as number;
          x[ia] = (a * c - bv * sn) * mul;
          x[ib] = (bv * c + a * sn) * mul;
        }
      }
    }
  }
}
