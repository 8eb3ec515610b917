import { allocFloat32, checkElementCount } from "../allocate.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import type { RopeSpec, RopeTable } from "../types.js";
import { ropeFrequencies } from "./frequencies.js";
import { MAX_POSITION, type ResolvedPositions, positionAt } from "./positions.js";
import { checkPositiveInteger, validateRopeSpec } from "./spec.js";

/** Which positions a table covers: a contiguous range, or an explicit list of ids. */
export type TablePositions = { readonly start: number; readonly length: number } | ArrayLike<number>;

/** Options of `ropeTable`. */
export interface RopeTableOptions {
  /**
   * Sequence length for dynamic NTK and LongRoPE. Default: the largest position + 1, as HF derives it
   * from `position_ids`.
   */
  seqLen?: number;
}

function isRange(p: TablePositions): p is { start: number; length: number } {
  return typeof (p as { start?: unknown }).start === "number";
}

/**
 * cos/sin of `spec` for the given positions: angles and trig in f64, stored as f32 with the
 * attention scale folded in. This is the one place ropekit evaluates trig for RoPE.
 */
export function ropeTable(
  spec: RopeSpec,
  positions: TablePositions,
  options: RopeTableOptions = {},
): RopeTable {
  checkOptions(options, ["seqLen"]);
  const halfDim = validateRopeSpec(spec).rotaryDim / 2;
  let start: number | undefined;
  let ids: Int32Array | undefined;
  let length: number;
  let maxPosition: number;
  if (positions !== null && typeof positions === "object" && isRange(positions)) {
    start = positions.start;
    length = checkPositiveInteger(positions.length, "positions.length");
    if (!Number.isInteger(start) || start < 0 || start + length - 1 > MAX_POSITION) {
      throw new RopekitError(
        "INVALID_POSITIONS",
        `positions.start must be an integer ≥ 0 with start + length − 1 ≤ ${MAX_POSITION}, got ${describeValue(start)}`,
        "positions.start",
      );
    }
    maxPosition = start + length - 1;
    checkElementCount(length * halfDim, "positions.length");
  } else {
    if (
      positions === null ||
      typeof positions !== "object" ||
      typeof positions.length !== "number" ||
      positions.length < 1
    ) {
      throw new RopekitError(
        "INVALID_POSITIONS",
        `positions must be {start, length} or a non-empty array of ids, got ${describeValue(positions)}`,
        "positions",
      );
    }
    const list = positions as ArrayLike<number>;
    length = list.length;
    checkElementCount(length * halfDim, "positions.length");
    ids = new Int32Array(length);
    maxPosition = 0;
    for (let i = 0; i < length; i++) {
      const p = list[i];
      if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > MAX_POSITION) {
        throw new RopekitError(
          "INVALID_POSITIONS",
          `positions[${i}] must be an integer in [0, ${MAX_POSITION}], got ${describeValue(p)}`,
          `positions[${i}]`,
        );
      }
      ids[i] = p;
      if (p > maxPosition) maxPosition = p;
    }
  }
  const seqLen = options.seqLen ?? maxPosition + 1;
  const { invFreq, attentionScale } = ropeFrequencies(spec, { seqLen });
  const cos = allocFloat32(length * halfDim, "ropeTable cos");
  const sin = allocFloat32(length * halfDim, "ropeTable sin");
  for (let row = 0; row < length; row++) {
    const p = ids === undefined ? (start as number) + row : (ids[row] as number);
    for (let i = 0; i < halfDim; i++) {
      const angle = p * (invFreq[i] as number);
      cos[row * halfDim + i] = attentionScale * Math.cos(angle);
      sin[row * halfDim + i] = attentionScale * Math.sin(angle);
    }
  }
  return { spec, halfDim, length, start, ids, seqLen, attentionScale, cos, sin };
}

/** Throws unless `table` is a well-formed RopeTable. */
export function checkRopeTable(table: RopeTable, name = "table"): RopeTable {
  const ok =
    table !== null &&
    typeof table === "object" &&
    table.cos instanceof Float32Array &&
    table.sin instanceof Float32Array &&
    Number.isSafeInteger(table.length) &&
    table.halfDim * 2 === table.spec?.rotaryDim &&
    table.cos.length === table.length * table.halfDim &&
    table.sin.length === table.cos.length &&
    (table.ids === undefined ? Number.isInteger(table.start) : table.ids.length === table.length);
  if (!ok) {
    throw new RopekitError("INVALID_OPTION", `${name} must be a RopeTable made by ropeTable()`, name);
  }
  return table;
}

/**
 * For every token (b, s), the table row holding its position: an Int32Array of batch·seq rows.
 * Throws POSITION_OUT_OF_RANGE for a position the table does not cover.
 */
export function tableRows(
  table: RopeTable,
  positions: ResolvedPositions,
  batch: number,
  seq: number,
): Int32Array {
  const rows = new Int32Array(batch * seq);
  let lookup: Map<number, number> | undefined;
  if (table.ids !== undefined) {
    lookup = new Map();
    for (let r = table.ids.length - 1; r >= 0; r--) lookup.set(table.ids[r] as number, r);
  }
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      const p = positionAt(positions, b, s, seq);
      const row = lookup === undefined ? p - (table.start as number) : (lookup.get(p) ?? -1);
      if (row < 0 || row >= table.length) {
        const covers =
          table.ids === undefined
            ? `[${table.start}, ${(table.start as number) + table.length})`
            : `its ${table.length} listed ids`;
        throw new RopekitError(
          "POSITION_OUT_OF_RANGE",
          `position ${p} (batch ${b}, token ${s}) is not in the table, which covers ${covers}`,
          "positions",
        );
      }
      rows[b * seq + s] = row;
    }
  }
  return rows;
}
