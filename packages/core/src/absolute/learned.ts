import { referenceInput } from "../dtype/dtype.js";
import { RopekitError } from "../errors.js";
import { booleanOption, checkOptions } from "../options.js";
import { positionAt, resolvePositions } from "../rope/positions.js";
import { embeddingDims, tableDims } from "../tensor.js";
import type { EmbeddingTensor, FloatArray, Positions, Tensor } from "../types.js";

/** Options of `addLearned`. */
export interface AddLearnedOptions {
  /** Default offset 0. */
  positions?: Positions;
  /** Overwrite `x`. Default false. */
  inPlace?: boolean;
}

/** Validated arguments of `addLearned`. */
export interface AddLearnedPlan {
  readonly dims: readonly [number, number, number];
  /** The table row of every token (b·seq + s). */
  readonly rows: Int32Array;
  readonly inPlace: boolean;
}

/** Validates addLearned's arguments: the table is [maxPositions, dim] and covers every position. */
export function planAddLearned(
  x: EmbeddingTensor,
  table: Tensor,
  options: AddLearnedOptions = {},
): AddLearnedPlan {
  const dims = embeddingDims(x);
  checkOptions(options, ["positions", "inPlace"]);
  const [tableRows, tableDim] = tableDims(table, "table");
  if (tableDim !== dims[2]) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `table rows have ${tableDim} channels but x has ${dims[2]}`,
      "table.shape",
    );
  }
  const [batch, seq] = dims;
  const positions = resolvePositions(options.positions, batch, seq);
  if (positions.max >= tableRows) {
    throw new RopekitError(
      "POSITION_OUT_OF_RANGE",
      `position ${positions.max} is past the learned table, which has ${tableRows} rows`,
      "positions",
    );
  }
  const rows = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++)
    for (let s = 0; s < seq; s++) rows[b * seq + s] = positionAt(positions, b, s, seq);
  return { dims, rows, inPlace: booleanOption(options.inPlace, "inPlace") };
}

/** f64 reference: x[b, s, :] + table[position(b, s), :]. */
export function addLearnedReference(
  x: EmbeddingTensor,
  table: Tensor,
  options: AddLearnedOptions = {},
): EmbeddingTensor<FloatArray> {
  const plan = planAddLearned(x, table, options);
  const [batch, seq, dim] = plan.dims;
  const xf = referenceInput(x, "x", plan.inPlace);
  const tf = referenceInput(table, "table");
  const out: FloatArray = plan.inPlace ? xf.data : Float64Array.from(xf.data);
  for (let t = 0; t < batch * seq; t++) {
    const row = plan.rows[t] as number;
    for (let c = 0; c < dim; c++)
      out[t * dim + c] = (out[t * dim + c] as number) + (tf.data[row * dim + c] as number);
  }
  return { data: out, shape: [batch, seq, dim] };
}
