import { linearReference } from "../linear/linear.js";
import type { Tensor } from "../types.js";
import { type OpKind, elementCount, seededInput } from "./op-kind.js";

/** A linear case: x of `shape` ([...rows, inFeatures]) · Wᵀ + b, W [outFeatures, inFeatures]. */
export interface LinearCase {
  readonly id: string;
  readonly op: "linear";
  readonly shape: readonly number[];
  readonly outFeatures: number;
  readonly bias: boolean;
}

/** A projection with a bias over a rank-3 x, and one without over a matrix. */
export const LINEAR_CASES: readonly LinearCase[] = [
  { id: "linear/bias", op: "linear", shape: [2, 3, 5], outFeatures: 7, bias: true },
  { id: "linear/no-bias", op: "linear", shape: [4, 16], outFeatures: 3, bias: false },
];

/** linear as an op kind: golden vectors, conformance and bench cases from the one table above. */
export const LINEAR: OpKind<LinearCase> = {
  op: "linear",
  cases: LINEAR_CASES,
  activation: "x",
  inputs(c) {
    const inFeatures = c.shape[c.shape.length - 1] as number;
    const x = seededInput(c.id, "x", c.shape);
    const weight = seededInput(c.id, "weight", [c.outFeatures, inFeatures]);
    return c.bias ? { x, weight, bias: seededInput(c.id, "bias", [c.outFeatures]) } : { x, weight };
  },
  run: (backend, _c, t) => backend.linear(t["x"] as Tensor, t["weight"] as Tensor, t["bias"]),
  reference: (_c, t) => linearReference(t["x"] as Tensor, t["weight"] as Tensor, t["bias"]),
  // x and W read, y written (and the bias, when there is one).
  bytes: (c) => {
    const inFeatures = c.shape[c.shape.length - 1] as number;
    const rows = elementCount(c.shape) / inFeatures;
    return (
      4 *
      (rows * inFeatures + c.outFeatures * inFeatures + rows * c.outFeatures + (c.bias ? c.outFeatures : 0))
    );
  },
  flops: (c) => 2 * elementCount(c.shape) * c.outFeatures,
};
