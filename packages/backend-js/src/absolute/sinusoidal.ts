import {
  type AddSinusoidalOptions,
  type EmbeddingTensor,
  type TablePositions,
  type Tensor,
  planAddSinusoidal,
  planSinusoidal,
  positionAt,
} from "@ropekit/core";
import { requireFloat32 } from "../dtype.js";

/** Writes sin/cos of p·invFreq for one position into `out` at `offset`, adding when `add` is set. */
function encodeRow(
  out: Float32Array,
  offset: number,
  p: number,
  invFreq: Float64Array,
  dim: number,
  add: boolean,
): void {
  for (let c = 0; c + 1 < dim; c += 2) {
    const angle = p * (invFreq[c >> 1] as number);
    const s = Math.sin(angle);
    const co = Math.cos(angle);
    out[offset + c] = add ? (out[offset + c] as number) + s : s;
    out[offset + c + 1] = add ? (out[offset + c + 1] as number) + co : co;
  }
  if (dim % 2 === 1) {
    const s = Math.sin(p * (invFreq[(dim - 1) >> 1] as number));
    out[offset + dim - 1] = add ? (out[offset + dim - 1] as number) + s : s;
  }
}

/** Sinusoidal table [positions, dim] in f32 (trig in f64). */
export function sinusoidal(positions: TablePositions, dim: number, base?: number): Tensor<Float32Array> {
  const plan = planSinusoidal(positions, dim, base);
  const n = plan.positions.length;
  const out = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) encodeRow(out, r * dim, plan.positions[r] as number, plan.invFreq, dim, false);
  return { data: out, shape: [n, dim] };
}

/** x + PE(position) for every token. */
export function addSinusoidal(
  x: EmbeddingTensor,
  options: AddSinusoidalOptions = {},
): EmbeddingTensor<Float32Array> {
  const plan = planAddSinusoidal(x, options);
  const src = requireFloat32(x.data, "x.data");
  const [batch, seq, dim] = plan.dims;
  const out = plan.inPlace ? src : new Float32Array(src); // (the constructor copies several times faster than slice() in V8)
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      encodeRow(out, (b * seq + s) * dim, positionAt(plan.positions, b, s, seq), plan.invFreq, dim, true);
    }
  }
  return { data: out, shape: [batch, seq, dim] };
}
