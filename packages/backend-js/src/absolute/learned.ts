import { type AddLearnedOptions, type EmbeddingTensor, type Tensor, planAddLearned } from "@ropekit/core";
import { requireFloat32 } from "../dtype.js";

/** x + table[position] for every token. */
export function addLearned(
  x: EmbeddingTensor,
  table: Tensor,
  options: AddLearnedOptions = {},
): EmbeddingTensor<Float32Array> {
  const plan = planAddLearned(x, table, options);
  const src = requireFloat32(x.data, "x.data");
  const [batch, seq, dim] = plan.dims;
  const out = plan.inPlace ? src : new Float32Array(src); // (the constructor copies several times faster than slice() in V8)
  const t = table.data;
  for (let token = 0; token < batch * seq; token++) {
    const o = token * dim;
    const r = (plan.rows[token] as number) * dim;
    for (let c = 0; c < dim; c++) out[o + c] = (out[o + c] as number) + (t[r + c] as number);
  }
  return { data: out, shape: [batch, seq, dim] };
}
