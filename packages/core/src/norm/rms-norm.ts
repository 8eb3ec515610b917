import { referenceInput } from "../dtype/dtype.js";
import { booleanOption, checkOptions } from "../options.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkVector, rowsOfLastDim } from "../tensor.js";
import type { FloatArray, Tensor } from "../types.js";

/** Options of `rmsNorm`. */
export interface RmsNormOptions {
  /** Added to the mean square before the square root. Default 1e-6 (HF configs: `rms_norm_eps`). */
  eps?: number;
  /**
   * Added to every weight: 0 multiplies by `w` (LLaMA, Qwen3, OLMo-2), 1 by `1 + w` (Gemma, whose
   * checkpoints store w − 1). Default 0.
   */
  weightOffset?: number;
  /** Overwrite x. Default false. */
  inPlace?: boolean;
}

/** Validated arguments of `rmsNorm`. */
export interface RmsNormPlan {
  /** Rows normalised (every dimension but the last). */
  readonly rows: number;
  /** Length of the last dimension, the one normalised. */
  readonly dim: number;
  readonly eps: number;
  readonly weightOffset: number;
  readonly inPlace: boolean;
}

/**
 * Validates `rmsNorm(x, weight, options)`: x [..., dim] of any rank ≥ 1 — a head tensor normalises each
 * head (Qwen3, Gemma-3 q/k norms), a [batch, seq, heads·dim] projection its whole width (OLMo-2) — and
 * weight [dim] or none.
 */
export function planRmsNorm(
  x: Tensor,
  weight: Tensor | undefined,
  options: RmsNormOptions = {},
): RmsNormPlan {
  const { rows, dim } = rowsOfLastDim(x);
  if (weight !== undefined) checkVector(weight, dim, "weight", "x's last dimension");
  checkOptions(options, ["eps", "weightOffset", "inPlace"]);
  const eps = options.eps ?? 1e-6;
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0) {
    throw new RopekitError(
      "INVALID_OPTION",
      `eps must be a finite number ≥ 0, got ${describeValue(eps)}`,
      "eps",
    );
  }
  const weightOffset = options.weightOffset ?? 0;
  if (weightOffset !== 0 && weightOffset !== 1) {
    throw new RopekitError(
      "INVALID_OPTION",
      `weightOffset must be 0 (w) or 1 (1 + w), got ${describeValue(weightOffset)}`,
      "weightOffset",
    );
  }
  return { rows, dim, eps, weightOffset, inPlace: booleanOption(options.inPlace, "inPlace") };
}

/** f64 reference: y = x / √(mean(x²) + eps) · (weightOffset + w), row by row over the last dimension. */
export function rmsNormReference(
  x: Tensor,
  weight?: Tensor,
  options: RmsNormOptions = {},
): Tensor<FloatArray> {
  const plan = planRmsNorm(x, weight, options);
  const { rows, dim } = plan;
  const xf = referenceInput(x, "x", plan.inPlace);
  const wf = weight ? referenceInput(weight, "weight") : undefined;
  const out: FloatArray = plan.inPlace ? xf.data : Float64Array.from(xf.data);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let sum = 0;
    for (let c = 0; c < dim; c++) sum += (xf.data[o + c] as number) ** 2;
    const inv = 1 / Math.sqrt(sum / dim + plan.eps);
    for (let c = 0; c < dim; c++) {
      const w = wf ? plan.weightOffset + (wf.data[c] as number) : 1;
      out[o + c] = (xf.data[o + c] as number) * inv * w;
    }
  }
  return { data: out, shape: [...x.shape] };
}
