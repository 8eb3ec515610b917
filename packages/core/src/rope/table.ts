import { allocFloat32 } from "../allocate.js";
import { RopekitError } from "../errors.js";
import { checkOptions } from "../options.js";
import type { RopeSpec, RopeTable } from "../types.js";
import { ropeFrequencies } from "./frequencies.js";
import {
  type ResolvedPositions,
  type TablePositions,
  mropeAxes,
  positionAt,
  resolveTablePositions,
} from "./positions.js";

export type { TablePositions } from "./positions.js";
import { validateRopeSpec } from "./spec.js";

/** Options of `ropeTable`. */
export interface RopeTableOptions {
  /**
   * Sequence length for dynamic NTK and LongRoPE. Default: the largest position + 1, as HF derives it
   * from `position_ids`.
   */
  seqLen?: number;
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
  const { start, ids, length, max: maxPosition } = resolveTablePositions(positions, halfDim);
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

/**
 * Multimodal RoPE: one table row per token (b·seq + s), pair i at the position of its section's axis —
 * what kernels read through the identity row map, so no kernel needs to know about sections.
 */
export function mropeTable(
  spec: RopeSpec,
  positions: ResolvedPositions,
  batch: number,
  seq: number,
  seqLen: number,
): RopeTable {
  const axes = positions.axes as NonNullable<ResolvedPositions["axes"]>;
  const axisOf = mropeAxes(spec.mropeSection as [number, number, number]);
  const { invFreq, attentionScale } = ropeFrequencies(spec, { seqLen });
  const halfDim = spec.rotaryDim / 2;
  const length = batch * seq;
  const cos = allocFloat32(length * halfDim, "ropeTable cos");
  const sin = allocFloat32(length * halfDim, "ropeTable sin");
  const ids = new Int32Array(length);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      const row = b * seq + s;
      ids[row] = positionAt(axes[0], b, s, seq);
      for (let i = 0; i < halfDim; i++) {
        const axis = axes[axisOf[i] as 0 | 1 | 2];
        const angle = positionAt(axis, b, s, seq) * (invFreq[i] as number);
        cos[row * halfDim + i] = attentionScale * Math.cos(angle);
        sin[row * halfDim + i] = attentionScale * Math.sin(angle);
      }
    }
  }
  return { spec, halfDim, length, start: undefined, ids, seqLen, attentionScale, cos, sin };
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
