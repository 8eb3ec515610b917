import { rmsNormReference } from "../norm/rms-norm.js";
import type { Tensor } from "../types.js";
import { type OpKind, elementCount, seededInput } from "./op-kind.js";

/** An rmsNorm case: x of `shape`, normalised over its last dimension. */
export interface RmsNormCase {
  readonly id: string;
  readonly op: "rmsNorm";
  readonly shape: readonly number[];
  readonly weight: boolean;
  readonly weightOffset?: 0 | 1;
  readonly eps?: number;
  /** Multiplies the seeded x, to make eps matter. */
  readonly xScale?: number;
}

/** The q/k norms of real models: per head (Qwen3, Gemma-3 with 1 + w) and over the full width (OLMo-2). */
export const RMS_NORM_CASES: readonly RmsNormCase[] = [
  { id: "rmsNorm/per-head-qwen3", op: "rmsNorm", shape: [1, 5, 4, 16], weight: true, eps: 1e-6 },
  {
    id: "rmsNorm/per-head-gemma3-1-plus-w",
    op: "rmsNorm",
    shape: [2, 2, 3, 8],
    weight: true,
    weightOffset: 1,
    eps: 1e-6,
  },
  { id: "rmsNorm/full-width-olmo2", op: "rmsNorm", shape: [2, 4, 64], weight: true, eps: 1e-6 },
  { id: "rmsNorm/no-weight", op: "rmsNorm", shape: [3, 10], weight: false, eps: 1e-5 },
  {
    id: "rmsNorm/small-values-eps-matters",
    op: "rmsNorm",
    shape: [4, 12],
    weight: true,
    eps: 1e-2,
    xScale: 1 / 64,
  },
];

/** rmsNorm as an op kind: golden vectors, conformance and bench cases from the one table above. */
export const RMS_NORM: OpKind<RmsNormCase> = {
  op: "rmsNorm",
  cases: RMS_NORM_CASES,
  activation: "x",
  inputs(c) {
    const dim = c.shape[c.shape.length - 1] as number;
    const seeded = seededInput(c.id, "x", c.shape);
    const x = { ...seeded, data: seeded.data.map((v) => v * (c.xScale ?? 1)) };
    return c.weight ? { x, weight: seededInput(c.id, "weight", [dim]) } : { x };
  },
  run: (backend, c, t) => backend.rmsNorm(t["x"] as Tensor, t["weight"], options(c)),
  reference: (c, t) => rmsNormReference(t["x"] as Tensor, t["weight"], options(c)),
  bytes: (c) => 2 * 4 * elementCount(c.shape),
  flops: (c) => 4 * elementCount(c.shape),
};

function options(c: RmsNormCase) {
  return {
    ...(c.eps !== undefined ? { eps: c.eps } : {}),
    ...(c.weightOffset !== undefined ? { weightOffset: c.weightOffset } : {}),
  };
}
