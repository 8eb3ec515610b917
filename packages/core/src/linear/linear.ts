import { referenceInput } from "../dtype/dtype.js";
import { RopekitError } from "../errors.js";
import { checkFloatData, checkVector, rowsOfLastDim } from "../tensor.js";
import type { FloatArray, Tensor } from "../types.js";

/** Validated arguments of `linear`. */
export interface LinearPlan {
  /** Rows of x (product of every dim but the last). */
  readonly rows: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Shape of the output: x's shape with the last dim replaced by outFeatures. */
  readonly outShape: readonly number[];
}

/** Validates `linear(x, weight, bias)`: x [..., in], weight [out, in] (PyTorch nn.Linear layout), bias [out]. */
export function planLinear(x: Tensor, weight: Tensor, bias?: Tensor): LinearPlan {
  const { rows, dim: inFeatures } = rowsOfLastDim(x);
  if (
    weight === null ||
    typeof weight !== "object" ||
    !Array.isArray(weight.shape) ||
    weight.shape.length !== 2
  ) {
    throw new RopekitError(
      "INVALID_SHAPE",
      "weight must be a rank-2 tensor [outFeatures, inFeatures]",
      "weight.shape",
    );
  }
  const [outFeatures, wIn] = weight.shape as [number, number];
  if (!Number.isSafeInteger(outFeatures) || outFeatures < 1 || wIn !== inFeatures) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `weight.shape must be [outFeatures, ${inFeatures}] (x's last dim), got [${weight.shape.join(", ")}]`,
      "weight.shape",
    );
  }
  checkFloatData(weight.data, outFeatures * inFeatures, "weight.data");
  if (bias !== undefined) checkVector(bias, outFeatures, "bias", "one per output feature");
  return { rows, inFeatures, outFeatures, outShape: [...x.shape.slice(0, -1), outFeatures] };
}

/** f64 reference: y = x·Wᵀ + b. */
export function linearReference(x: Tensor, weight: Tensor, bias?: Tensor): Tensor<FloatArray> {
  const { rows, inFeatures, outFeatures, outShape } = planLinear(x, weight, bias);
  // f16/bf16 inputs are read as their exact values.
  x = referenceInput(x, "x");
  weight = referenceInput(weight, "weight");
  if (bias) bias = referenceInput(bias, "bias");
  const out = new Float64Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let s = bias ? (bias.data[o] as number) : 0;
      for (let i = 0; i < inFeatures; i++)
        s += (x.data[r * inFeatures + i] as number) * (weight.data[o * inFeatures + i] as number);
      out[r * outFeatures + o] = s;
    }
  }
  return { data: out, shape: outShape };
}
