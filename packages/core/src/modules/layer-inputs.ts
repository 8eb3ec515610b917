import { RopekitError, describeValue } from "../errors.js";
import type { MultimodalPositions, Positions } from "../types.js";

/**
 * Positions of a layer call: an offset, `seq` or `batch·seq` ids, one array of ids per batch row
 * (`[batch][seq]`), or for a multimodal-RoPE layer three rows (`[3][seq | batch·seq]` or
 * `[3][batch][seq]`, HF's position_ids).
 */
export type LayerPositions =
  | Positions
  | readonly (readonly number[])[]
  | MultimodalPositions
  | readonly [readonly (readonly number[])[], readonly (readonly number[])[], readonly (readonly number[])[]];

/**
 * HF's 2-D `attention_mask` ([batch][tokens], 1 = token, 0 = padding; nested or flat) as one flat
 * Uint8Array of batch·tokens.
 */
export function hfAttentionMask(
  mask: readonly (readonly number[])[] | ArrayLike<number>,
  batch: number,
  tokens: number,
): Uint8Array {
  const nested = Array.isArray(mask) && mask.length > 0 && Array.isArray(mask[0]);
  const flat: ArrayLike<number> = nested
    ? (mask as readonly (readonly number[])[]).flat()
    : (mask as ArrayLike<number>);
  const rowsOk =
    !nested ||
    ((mask as readonly (readonly number[])[]).length === batch &&
      (mask as readonly (readonly number[])[]).every((r) => r.length === tokens));
  if (flat === null || typeof flat !== "object" || flat.length !== batch * tokens || !rowsOk) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `attentionMask must be [batch ${batch}][tokens so far ${tokens}] (the cache's tokens and this call's), got ${describeValue(mask)}`,
      "attentionMask",
    );
  }
  const out = new Uint8Array(batch * tokens);
  for (let i = 0; i < out.length; i++) {
    const v = flat[i];
    if (v !== 0 && v !== 1) {
      throw new RopekitError(
        "INVALID_OPTION",
        `attentionMask holds 1 (token) or 0 (padding), got ${describeValue(v)} at ${i}`,
        "attentionMask",
      );
    }
    out[i] = v;
  }
  return out;
}

/**
 * The position ids of a layer call: as given (one array per row flattened), or as HF generation derives
 * them — `past + t` without a mask; with a mask, its cumulative sum − 1 per row, padding at 1
 * (`position_ids.masked_fill_(attention_mask == 0, 1)`), for this call's last `seq` tokens.
 */
export function layerPositions(
  positions: LayerPositions | undefined,
  padding: Uint8Array | undefined,
  batch: number,
  seq: number,
  past: number,
  multimodal = false,
): Positions | MultimodalPositions {
  const nested = (p: unknown): p is readonly (readonly number[])[] =>
    Array.isArray(p) && p.length > 0 && p.every((r) => Array.isArray(r));
  const perRow = (rows: readonly (readonly number[])[], name: string): number[] => {
    if (rows.length !== batch || rows.some((r) => r.length !== seq)) {
      throw new RopekitError(
        "INVALID_POSITIONS",
        `${name} per row must be [batch ${batch}][seq ${seq}]`,
        name,
      );
    }
    return rows.flat();
  };
  if (positions !== undefined) {
    if (multimodal && Array.isArray(positions) && positions.length === 3) {
      // [3][batch][seq] → three rows of batch·seq ids; [3][seq | batch·seq] as it is.
      return positions.map((axis, i) =>
        nested(axis) ? perRow(axis, `positions[${i}]`) : axis,
      ) as unknown as MultimodalPositions;
    }
    if (nested(positions)) return perRow(positions, "positions");
    return positions as Positions;
  }
  let ids: Positions = past;
  if (padding) {
    const total = past + seq;
    const out = new Array<number>(batch * seq);
    for (let b = 0; b < batch; b++) {
      let sum = 0;
      for (let j = 0; j < total; j++) {
        const m = padding[b * total + j] as number;
        sum += m;
        if (j >= past) out[b * seq + j - past] = m === 0 ? 1 : sum - 1;
      }
    }
    ids = out;
  }
  // Text only: every axis of a multimodal layer gets the same ids, as HF builds them.
  return ids;
}
