import { referenceInput } from "../dtype/dtype.js";
import { allocFloat64 } from "../allocate.js";
import { booleanOption, checkOptions } from "../options.js";
import { checkPositiveFinite, checkPositiveInteger } from "../rope/spec.js";
import {
  type ResolvedPositions,
  positionAt,
  resolvePositions,
  resolveTablePositions,
} from "../rope/positions.js";
import type { TablePositions } from "../rope/table.js";
import { embeddingDims } from "../tensor.js";
import type { EmbeddingTensor, FloatArray, Positions, Tensor } from "../types.js";

/** Options of `addSinusoidal`. */
export interface AddSinusoidalOptions {
  /** Default offset 0. */
  positions?: Positions;
  /** Default 10 000 (Vaswani et al.). */
  base?: number;
  /** Overwrite `x`. Default false. */
  inPlace?: boolean;
}

/** Validated arguments of `sinusoidal`. */
export interface SinusoidalPlan {
  /** The position of each output row. */
  readonly positions: Float64Array;
  readonly dim: number;
  /** Frequency of channel pair i: base^(−2i/dim), f64. */
  readonly invFreq: Float64Array;
}

/** base^(−2i/dim) for each channel pair (the last pair of an odd dim has only its sin channel). */
export function sinusoidalInvFreq(dim: number, base: number): Float64Array {
  const pairs = Math.ceil(dim / 2);
  const out = new Float64Array(pairs);
  for (let i = 0; i < pairs; i++) out[i] = base ** (-(2 * i) / dim);
  return out;
}

/** Validates sinusoidal's arguments. Positions: `{start, length}` or a list of ids. */
export function planSinusoidal(positions: TablePositions, dim: number, base = 10000): SinusoidalPlan {
  checkPositiveInteger(dim, "dim");
  checkPositiveFinite(base, "base");
  const rows = resolveTablePositions(positions, dim);
  const list = rows.ids
    ? Float64Array.from(rows.ids)
    : Float64Array.from({ length: rows.length }, (_, i) => (rows.start as number) + i);
  return { positions: list, dim, invFreq: sinusoidalInvFreq(dim, base) };
}

/** f64 reference: PE[p, 2i] = sin(p·base^(−2i/d)), PE[p, 2i+1] = cos(p·base^(−2i/d)); shape [positions, dim]. */
export function sinusoidalReference(
  positions: TablePositions,
  dim: number,
  base = 10000,
): Tensor<Float64Array> {
  const plan = planSinusoidal(positions, dim, base);
  const n = plan.positions.length;
  const out = allocFloat64(n * dim, "sinusoidal table");
  for (let r = 0; r < n; r++) {
    const p = plan.positions[r] as number;
    for (let c = 0; c < dim; c++) {
      const angle = p * (plan.invFreq[c >> 1] as number);
      out[r * dim + c] = c % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return { data: out, shape: [n, dim] };
}

/** Validated arguments of `addSinusoidal`. */
export interface AddSinusoidalPlan {
  readonly dims: readonly [number, number, number];
  readonly positions: ResolvedPositions;
  readonly invFreq: Float64Array;
  readonly inPlace: boolean;
}

/** Validates addSinusoidal's arguments; shared by the reference and every backend. */
export function planAddSinusoidal(x: EmbeddingTensor, options: AddSinusoidalOptions = {}): AddSinusoidalPlan {
  const dims = embeddingDims(x);
  checkOptions(options, ["positions", "base", "inPlace"]);
  const base = checkPositiveFinite(options.base ?? 10000, "base");
  return {
    dims,
    positions: resolvePositions(options.positions, dims[0], dims[1]),
    invFreq: sinusoidalInvFreq(dims[2], base),
    inPlace: booleanOption(options.inPlace, "inPlace"),
  };
}

/**
 * The encoding rows addSinusoidal needs: one row per distinct position (in f64), and the row of every
 * token — so the cost follows the number of tokens, never the span of the ids.
 */
export function addSinusoidalRows(
  plan: AddSinusoidalPlan,
  storage: "float32" | "float64" = "float64",
): { table: FloatArray; rows: Int32Array } {
  const [batch, seq, dim] = plan.dims;
  const rows = new Int32Array(batch * seq);
  const rowOf = new Map<number, number>();
  const positions: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      const p = positionAt(plan.positions, b, s, seq);
      let r = rowOf.get(p);
      if (r === undefined) {
        r = positions.length;
        rowOf.set(p, r);
        positions.push(p);
      }
      rows[b * seq + s] = r;
    }
  }
  // A run of consecutive positions steps each pair's angle by its frequency w (angle addition with
  // cos w, sin w) instead of calling sin and cos per value — exact trig every 16 rows keeps the f64 error
  // around 1e-15, far below f32.
  const pairs = plan.invFreq.length;
  const stepCos = Float64Array.from(plan.invFreq, Math.cos);
  const stepSin = Float64Array.from(plan.invFreq, Math.sin);
  const sin = new Float64Array(pairs);
  const cos = new Float64Array(pairs);
  // f32 backends get the rows in f32 (half the bytes to move; trig and stepping stay in f64).
  const table =
    storage === "float32"
      ? new Float32Array(positions.length * dim)
      : new Float64Array(positions.length * dim);
  for (const [r, p] of positions.entries()) {
    const step = r % 16 !== 0 && p === (positions[r - 1] as number) + 1;
    for (let i = 0; i < pairs; i++) {
      if (step) {
        const s0 = sin[i] as number;
        const c0 = cos[i] as number;
        sin[i] = s0 * (stepCos[i] as number) + c0 * (stepSin[i] as number);
        cos[i] = c0 * (stepCos[i] as number) - s0 * (stepSin[i] as number);
      } else {
        const angle = p * (plan.invFreq[i] as number);
        sin[i] = Math.sin(angle);
        cos[i] = Math.cos(angle);
      }
      table[r * dim + 2 * i] = sin[i] as number;
      if (2 * i + 1 < dim) table[r * dim + 2 * i + 1] = cos[i] as number;
    }
  }
  return { table, rows };
}

/** f64 reference: x + PE, the encoding of each token's position added to its embedding. */
export function addSinusoidalReference(
  x: EmbeddingTensor,
  options: AddSinusoidalOptions = {},
): EmbeddingTensor<FloatArray> {
  const plan = planAddSinusoidal(x, options);
  const [batch, seq, dim] = plan.dims;
  const xf = referenceInput(x, "x", plan.inPlace);
  const out: FloatArray = plan.inPlace ? xf.data : Float64Array.from(xf.data);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      const p = positionAt(plan.positions, b, s, seq);
      const o = (b * seq + s) * dim;
      for (let c = 0; c < dim; c++) {
        const angle = p * (plan.invFreq[c >> 1] as number);
        out[o + c] = (out[o + c] as number) + (c % 2 === 0 ? Math.sin(angle) : Math.cos(angle));
      }
    }
  }
  return { data: out, shape: [batch, seq, dim] };
}
