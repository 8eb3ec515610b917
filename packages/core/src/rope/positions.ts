import { checkElementCount } from "../allocate.js";
import { RopekitError, describeValue } from "../errors.js";
import type { MultimodalPositions, Positions } from "../types.js";

/** Largest position id ropekit accepts (positions are stored as int32). */
export const MAX_POSITION = 2 ** 31 - 1;

/** Positions checked and normalised for a tensor of `batch` rows of `seq` tokens. */
export interface ResolvedPositions {
  /** Start offset when positions are `offset + t`, else 0. */
  readonly offset: number;
  /** Explicit ids: length seq (shared by all rows) or batch·seq (one row each); undefined for an offset. */
  readonly ids: Int32Array | undefined;
  /** True when `ids` holds one row per batch entry. */
  readonly perRow: boolean;
  readonly min: number;
  readonly max: number;
  /** Multimodal RoPE: the temporal, height and width positions (the fields above are the temporal ones). */
  readonly axes?: readonly [ResolvedPositions, ResolvedPositions, ResolvedPositions];
}

/** True for three rows of ids (HF's [3, batch, seq] multimodal position ids), not one row of numbers. */
export function isMultimodalPositions(p: unknown): p is MultimodalPositions {
  return (
    Array.isArray(p) &&
    p.length === 3 &&
    p.every(
      (row) =>
        row !== null && typeof row === "object" && typeof (row as ArrayLike<number>).length === "number",
    )
  );
}

/**
 * Positions for RoPE with `spec`: ordinary positions, or — when the spec has an `mropeSection` — three
 * rows (temporal, height, width), each checked like ordinary ids. Ordinary positions with an mrope spec
 * give every axis the same ids, as HF does for text-only input.
 */
export function resolveRopePositions(
  positions: Positions | MultimodalPositions | undefined,
  spec: { readonly mropeSection?: unknown },
  batch: number,
  seq: number,
  name = "positions",
): ResolvedPositions {
  if (!isMultimodalPositions(positions)) return resolvePositions(positions, batch, seq, name);
  if (spec.mropeSection === undefined) {
    throw new RopekitError(
      "INVALID_POSITIONS",
      `${name}: three rows of ids (multimodal RoPE) need a spec with mropeSection`,
      name,
    );
  }
  const axes = positions.map((row, a) => resolvePositions(row, batch, seq, `${name}[${a}]`)) as unknown as [
    ResolvedPositions,
    ResolvedPositions,
    ResolvedPositions,
  ];
  const [t] = axes;
  return { ...t, min: Math.min(...axes.map((x) => x.min)), max: Math.max(...axes.map((x) => x.max)), axes };
}

/** For multimodal RoPE: which position axis (0 temporal, 1 height, 2 width) each frequency pair uses. */
export function mropeAxes(section: readonly [number, number, number]): Uint8Array {
  const out = new Uint8Array(section[0] + section[1] + section[2]);
  out.fill(1, section[0]).fill(2, section[0] + section[1]);
  return out;
}

function checkPosition(p: unknown, name: string): number {
  if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > MAX_POSITION) {
    throw new RopekitError(
      "INVALID_POSITIONS",
      `${name} must be an integer in [0, ${MAX_POSITION}], got ${describeValue(p)}`,
      name,
    );
  }
  return p;
}

/** Validates `positions` (default: offset 0) for batch × seq tokens. */
export function resolvePositions(
  positions: Positions | undefined,
  batch: number,
  seq: number,
  name = "positions",
): ResolvedPositions {
  if (positions === undefined) return { offset: 0, ids: undefined, perRow: false, min: 0, max: seq - 1 };
  if (typeof positions === "number") {
    const offset = checkPosition(positions, name);
    if (offset + seq - 1 > MAX_POSITION) {
      throw new RopekitError(
        "INVALID_POSITIONS",
        `${name}: offset ${offset} + ${seq} tokens passes ${MAX_POSITION}`,
        name,
      );
    }
    return { offset, ids: undefined, perRow: false, min: offset, max: offset + seq - 1 };
  }
  if (positions === null || typeof positions !== "object" || typeof positions.length !== "number") {
    throw new RopekitError(
      "INVALID_POSITIONS",
      `${name} must be a start offset or an array of integer ids, got ${describeValue(positions)}`,
      name,
    );
  }
  const n = positions.length;
  if (n !== seq && n !== batch * seq) {
    throw new RopekitError(
      "INVALID_POSITIONS",
      `${name} must hold seq=${seq} ids (shared by every row) or batch·seq=${batch * seq} ids, got ${n}`,
      name,
    );
  }
  const ids = new Int32Array(n);
  let min = MAX_POSITION;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const p = checkPosition(positions[i], `${name}[${i}]`);
    ids[i] = p;
    if (p < min) min = p;
    if (p > max) max = p;
  }
  return { offset: 0, ids, perRow: n !== seq || batch === 1, min, max };
}

/** The position of token `s` of batch row `b`. */
export function positionAt(p: ResolvedPositions, b: number, s: number, seq: number): number {
  if (p.ids === undefined) return p.offset + s;
  return p.perRow ? (p.ids[b * seq + s] as number) : (p.ids[s] as number);
}

/** Which positions a table covers: a contiguous range, or an explicit list of ids. */
export type TablePositions = { readonly start: number; readonly length: number } | ArrayLike<number>;

/** The rows of a table, checked: a range `[start, start + length)` or a list of ids. */
export interface TableRowPositions {
  readonly start: number | undefined;
  readonly ids: Int32Array | undefined;
  readonly length: number;
  readonly max: number;
}

/**
 * Validates the positions of a table (RoPE or sinusoidal) of `rowElements` values per row: the one parser
 * of `{ start, length }` or ids. Sizes are checked before anything is allocated.
 */
export function resolveTablePositions(positions: TablePositions, rowElements: number): TableRowPositions {
  if (
    positions !== null &&
    typeof positions === "object" &&
    typeof (positions as { start?: unknown }).start === "number"
  ) {
    const { start, length } = positions as { start: number; length: unknown };
    if (!Number.isSafeInteger(length) || (length as number) < 1) {
      throw new RopekitError(
        "INVALID_OPTION",
        `positions.length must be a positive integer, got ${describeValue(length)}`,
        "positions.length",
      );
    }
    const n = length as number;
    checkElementCount(n * rowElements, "positions.length");
    if (!Number.isInteger(start) || start < 0 || start + n - 1 > MAX_POSITION) {
      throw new RopekitError(
        "INVALID_POSITIONS",
        `positions.start must be an integer ≥ 0 with start + length − 1 ≤ ${MAX_POSITION}, got ${describeValue(start)}`,
        "positions.start",
      );
    }
    return { start, ids: undefined, length: n, max: start + n - 1 };
  }
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
  checkElementCount(positions.length * rowElements, "positions.length");
  const r = resolvePositions(positions, 1, positions.length);
  return { start: undefined, ids: r.ids as Int32Array, length: positions.length, max: r.max };
}
