import type { AddRowsKernelPlan, EmbeddingTensor } from "@ropekit/core";

/** out[t] = x[t] + table[rows[t]]: addLearned and addSinusoidal (core made the encoding rows in f64). */
export function addRows(plan: AddRowsKernelPlan): EmbeddingTensor<Float32Array> {
  const [batch, seq, dim] = plan.dims;
  const src = plan.x.data as Float32Array;
  // The typed-array constructor copies several times faster than slice() in V8.
  const out = plan.inPlace ? src : new Float32Array(src);
  const { table, rows } = plan;
  for (let token = 0; token < batch * seq; token++) {
    const o = token * dim;
    const r = (rows[token] as number) * dim;
    for (let c = 0; c < dim; c++) out[o + c] = (out[o + c] as number) + (table[r + c] as number);
  }
  return { data: out, shape: [batch, seq, dim] };
}
