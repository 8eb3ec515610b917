import { type AddSinusoidalPlan, positionAt } from "@ropekit/core";

/**
 * The encoding rows addSinusoidal needs: the positions to encode and, for each token, its row. The cost
 * follows the tokens, never the span of the ids: positions within a span no larger than the token count
 * get one row each (no lookup); sparse ids such as [0, 2²⁴, 7] get one row per distinct id.
 */
export function encodingRows(plan: AddSinusoidalPlan): { positions: Float64Array; rows: Int32Array } {
  const [batch, seq] = plan.dims;
  const { min, max } = plan.positions;
  const rows = new Int32Array(batch * seq);
  if (max - min + 1 <= batch * seq) {
    for (let b = 0; b < batch; b++)
      for (let s = 0; s < seq; s++) rows[b * seq + s] = positionAt(plan.positions, b, s, seq) - min;
    return { positions: Float64Array.from({ length: max - min + 1 }, (_, i) => min + i), rows };
  }
  const index = new Map<number, number>();
  const positions: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      const p = positionAt(plan.positions, b, s, seq);
      let row = index.get(p);
      if (row === undefined) {
        row = positions.length;
        index.set(p, row);
        positions.push(p);
      }
      rows[b * seq + s] = row;
    }
  }
  return { positions: Float64Array.from(positions), rows };
}

/** A row is computed exactly (Math.sin/cos) at least every ANCHOR rows; rows between step from it. */
const ANCHOR = 16;
/**
 * Past this position the reference's own angle p·invFreq carries a rounding error that stepping does not
 * reproduce (up to ~2e-7 at 2³¹): such rows are computed exactly.
 */
const STEP_BELOW = 2 ** 24;

/**
 * PE rows written into `out` (f32, e.g. wasm memory): out[r·dim + 2i] = sin(p·invFreq[i]),
 * out[r·dim + 2i + 1] = cos(p·invFreq[i]), the reference's formula. Trig is the whole cost, so a row at
 * the position after the previous row's is that row rotated by one step of each frequency (angle
 * addition in f64: error ~1e-15 per step), with an exact row every ANCHOR rows — the difference from
 * the reference stays far below f32 rounding. 4× faster than Math.sin + Math.cos for each value.
 */
export function writeEncoding(
  out: Float32Array,
  positions: Float64Array,
  invFreq: Float64Array,
  dim: number,
): void {
  const pairs = dim >> 1;
  const stepSin = invFreq.map(Math.sin);
  const stepCos = invFreq.map(Math.cos);
  const sin = new Float64Array(pairs);
  const cos = new Float64Array(pairs);
  for (let r = 0; r < positions.length; r++) {
    const p = positions[r] as number;
    const o = r * dim;
    const step = r % ANCHOR !== 0 && p < STEP_BELOW && p === (positions[r - 1] as number) + 1;
    for (let i = 0; i < pairs; i++) {
      let s: number;
      let c: number;
      if (step) {
        const s0 = sin[i] as number;
        const c0 = cos[i] as number;
        const ss = stepSin[i] as number;
        const cs = stepCos[i] as number;
        s = s0 * cs + c0 * ss;
        c = c0 * cs - s0 * ss;
      } else {
        const angle = p * (invFreq[i] as number);
        s = Math.sin(angle);
        c = Math.cos(angle);
      }
      sin[i] = s;
      cos[i] = c;
      out[o + 2 * i] = s;
      out[o + 2 * i + 1] = c;
    }
    // An odd dim's last channel: the sin of one more frequency.
    if (dim % 2 === 1) out[o + dim - 1] = Math.sin(p * (invFreq[pairs] as number));
  }
}
