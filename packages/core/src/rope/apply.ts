import { referenceInput } from "../dtype/dtype.js";
import { RopekitError, describeValue } from "../errors.js";
import { booleanOption, checkOptions } from "../options.js";
import { type HeadsDims, headsDims } from "../tensor.js";
import type {
  FloatArray,
  HeadsTensor,
  MultimodalPositions,
  Positions,
  RopeSpec,
  RopeTable,
} from "../types.js";
import { ropeFrequencies } from "./frequencies.js";
import { type ResolvedPositions, mropeAxes, positionAt, resolveRopePositions } from "./positions.js";
import { validateRopeSpec } from "./spec.js";
import { checkRopeTable, tableRows } from "./table.js";

/** A spec (the backend builds and caches the table) or a prebuilt table. */
export type RopeInput = RopeSpec | RopeTable;

/** Options of `applyRope`. */
export interface ApplyRopeOptions {
  /** Default offset 0. See `Positions`; three rows (`MultimodalPositions`) for a spec with mropeSection. */
  positions?: Positions | MultimodalPositions;
  /** Overwrite `x` instead of returning a new tensor. Default false: inputs are never touched. */
  inPlace?: boolean;
  /** Undo the rotation: rotate by −angle and divide by the attention scale. */
  inverse?: boolean;
  /** Sequence length for dynamic NTK / LongRoPE when `rope` is a spec. Default: largest position + 1. */
  seqLen?: number;
}

/** True when `rope` is a RopeTable rather than a RopeSpec. */
export function isRopeTable(rope: RopeInput): rope is RopeTable {
  return rope !== null && typeof rope === "object" && "cos" in rope && "sin" in rope;
}

/** Everything an applyRope kernel needs, validated. */
export interface ApplyRopePlan {
  readonly dims: HeadsDims;
  readonly spec: RopeSpec;
  readonly table: RopeTable | undefined;
  /** When a table was given: the table row of every token (b·seq + s), checked to be in range. */
  readonly rows: Int32Array | undefined;
  readonly positions: ResolvedPositions;
  /** The seqLen the frequencies are computed for (ignored by most scaling types). */
  readonly seqLen: number;
  readonly inPlace: boolean;
  readonly inverse: boolean;
}

/** Validates every argument of applyRope; shared by the reference and every backend. */
export function planApplyRope(
  x: HeadsTensor,
  rope: RopeInput,
  options: ApplyRopeOptions = {},
  name = "x",
  positionsName = "positions",
): ApplyRopePlan {
  const dims = headsDims(x, name);
  if (rope === null || typeof rope !== "object") {
    throw new RopekitError(
      "INVALID_OPTION",
      `rope must be a RopeSpec or RopeTable, got ${describeValue(rope)}`,
      "rope",
    );
  }
  const table = isRopeTable(rope) ? checkRopeTable(rope, "rope") : undefined;
  const spec = validateRopeSpec(table ? table.spec : (rope as RopeSpec));
  if (spec.headDim !== dims.headDim) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `${name} has head size ${dims.headDim} but the rope spec has headDim ${spec.headDim}`,
      `${name}.shape`,
    );
  }
  checkOptions(options, ["positions", "inPlace", "inverse", "seqLen"]);
  const positions = resolveRopePositions(options.positions, spec, dims.batch, dims.seq, positionsName);
  if (table && positions.axes) {
    throw new RopekitError(
      "INVALID_OPTION",
      "a RopeTable holds one position per row; pass the spec (with mropeSection) for multimodal positions",
      "rope",
    );
  }
  let seqLen = positions.max + 1;
  if (options.seqLen !== undefined) {
    if (!Number.isSafeInteger(options.seqLen) || options.seqLen < 1) {
      throw new RopekitError(
        "INVALID_OPTION",
        `seqLen must be a positive integer, got ${describeValue(options.seqLen)}`,
        "seqLen",
      );
    }
    seqLen = options.seqLen;
  }
  return {
    dims,
    spec,
    table,
    rows: table ? tableRows(table, positions, dims.batch, dims.seq) : undefined,
    positions,
    seqLen: table ? table.seqLen : seqLen,
    inPlace: booleanOption(options.inPlace, "inPlace"),
    inverse: booleanOption(options.inverse, "inverse"),
  };
}

/**
 * f64 reference of applyRope: obviously-correct loops, trig evaluated per token in f64
 * (or the table's values when a table is given). Out of place it returns Float64Array data.
 */
export function applyRopeReference(
  x: HeadsTensor,
  rope: RopeInput,
  options: ApplyRopeOptions = {},
): HeadsTensor<FloatArray> {
  const plan = planApplyRope(x, rope, options);
  const { dims, spec, table, rows, positions } = plan;
  const xf = referenceInput(x, "x", plan.inPlace);
  const out: FloatArray = plan.inPlace ? xf.data : Float64Array.from(xf.data);
  const half = spec.rotaryDim / 2;
  const freqs = table ? undefined : ropeFrequencies(spec, { seqLen: plan.seqLen });
  // Multimodal RoPE: pair i turns with the position of its section's axis.
  const axisOf = spec.mropeSection ? mropeAxes(spec.mropeSection) : undefined;
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  const scale = freqs ? freqs.attentionScale : (table as RopeTable).attentionScale;

  for (let b = 0; b < dims.batch; b++) {
    for (let s = 0; s < dims.seq; s++) {
      if (freqs) {
        const p = positionAt(positions, b, s, dims.seq);
        for (let i = 0; i < half; i++) {
          const axis = axisOf && positions.axes ? positions.axes[axisOf[i] as 0 | 1 | 2] : undefined;
          const angle = (axis ? positionAt(axis, b, s, dims.seq) : p) * (freqs.invFreq[i] as number);
          cos[i] = scale * Math.cos(angle);
          sin[i] = scale * Math.sin(angle);
        }
      } else {
        const t = table as RopeTable;
        const row = (rows as Int32Array)[b * dims.seq + s] as number;
        for (let i = 0; i < half; i++) {
          cos[i] = t.cos[row * half + i] as number;
          sin[i] = t.sin[row * half + i] as number;
        }
      }
      for (let h = 0; h < dims.heads; h++) {
        const o = b * dims.strideBatch + s * dims.strideSeq + h * dims.strideHead;
        for (let i = 0; i < half; i++) {
          const ia = spec.pairing === "half" ? o + i : o + 2 * i;
          const ib = spec.pairing === "half" ? o + i + half : o + 2 * i + 1;
          const a = out[ia] as number;
          const c = cos[i] as number;
          const sn = sin[i] as number;
          const bv = out[ib] as number;
          if (plan.inverse) {
            // R(−θ)/scale: with c = scale·cos θ and sn = scale·sin θ, divide by scale².
            const inv = 1 / (scale * scale);
            out[ia] = (a * c + bv * sn) * inv;
            out[ib] = (bv * c - a * sn) * inv;
          } else {
            out[ia] = a * c - bv * sn;
            out[ib] = bv * c + a * sn;
          }
        }
      }
    }
  }
  return { data: out, shape: [...x.shape] as [number, number, number, number], layout: x.layout };
}
