import { RopekitError, describeValue } from "../errors.js";
import type { MultimodalPositions } from "../types.js";

/** A run of a multimodal sequence: text tokens, or an image as its grid of LLM tokens (after merging). */
export type MultimodalSegment =
  | { readonly text: number }
  | { readonly image: { readonly t: number; readonly h: number; readonly w: number } };

/**
 * Multimodal RoPE position ids of one sequence, as Qwen2-VL's `get_rope_index` builds them: text tokens
 * count up on all three axes; an image's t·h·w tokens take (temporal, height, width) grid indices offset
 * by the position where the image starts; the text after it continues from the largest position + 1.
 * The grid is in LLM tokens (HF: `image_grid_thw` divided by `spatial_merge_size` in h and w).
 *
 * @example
 * ```ts
 * // "<text 3 tokens> <image 1×2×2> <text 2 tokens>"
 * const [t, h, w] = mropePositionIds([{ text: 3 }, { image: { t: 1, h: 2, w: 2 } }, { text: 2 }]);
 * // t: 0 1 2 3 3 3 3 5 6   h: 0 1 2 3 3 4 4 5 6   w: 0 1 2 3 4 3 4 5 6
 * ```
 */
export function mropePositionIds(segments: readonly MultimodalSegment[]): MultimodalPositions {
  const axes: [number[], number[], number[]] = [[], [], []];
  let next = 0;
  for (const [i, segment] of segments.entries()) {
    if ("text" in segment) {
      if (!Number.isSafeInteger(segment.text) || segment.text < 0) {
        throw new RopekitError(
          "INVALID_OPTION",
          `segments[${i}].text must be a token count, got ${describeValue(segment.text)}`,
          `segments[${i}]`,
        );
      }
      for (let k = 0; k < segment.text; k++) for (const axis of axes) axis.push(next + k);
      next += segment.text;
      continue;
    }
    const { t, h, w } = segment.image ?? {};
    if (![t, h, w].every((n) => Number.isSafeInteger(n) && (n as number) >= 1)) {
      throw new RopekitError(
        "INVALID_OPTION",
        `segments[${i}].image must be { t, h, w } positive integers`,
        `segments[${i}]`,
      );
    }
    let largest = next;
    for (let a = 0; a < (t as number); a++) {
      for (let b = 0; b < (h as number); b++) {
        for (let c = 0; c < (w as number); c++) {
          axes[0].push(next + a);
          axes[1].push(next + b);
          axes[2].push(next + c);
          largest = Math.max(largest, next + a, next + b, next + c);
        }
      }
    }
    next = largest + 1;
  }
  return axes;
}
