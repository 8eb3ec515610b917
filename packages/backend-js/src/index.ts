/**
 * `@ropekit/backend-js`: fast f32 kernels in plain TypeScript. Runs everywhere; the baseline every
 * other backend is measured against. Core plans and validates each call; the kernels here only compute.
 */
import {
  type Backend,
  type BackendRegistration,
  EVERY_OP_AND_LAYOUT,
  type SyncKernels,
  checkOptions,
  defineBackend,
  isHalfDtype,
  widenHalfKernels,
} from "@ropekit/core";
import { addRows } from "./absolute/add-rows.js";
import { attention } from "./attention/attention.js";
import { linear } from "./linear/linear.js";
import { linearHalfWeights } from "./linear/linear-half.js";
import { rmsNorm } from "./norm/rms-norm.js";
import { applyRope } from "./rope/apply.js";

/** Options of `createJsBackend`. */
export interface JsBackendOptions {
  /** How many RoPE tables to keep for reuse across calls. Default 32. */
  tableCacheSize?: number;
}

/**
 * The f32 kernels, taking float16/bfloat16 tensors too: half inputs are decoded (exactly) to f32 before a
 * kernel and half outputs rounded to nearest even after it — one conversion pass per half tensor, cheap
 * next to the arithmetic of these kernels. Half linear weights are the exception: read block by block,
 * never copied whole (see linearHalfWeights).
 */
const widened: SyncKernels = widenHalfKernels(
  { applyRope, addRows, attention, linear, rmsNorm } satisfies SyncKernels,
  "float32",
);
const kernels: SyncKernels = {
  ...widened,
  linear: (plan) => (isHalfDtype(plan.weight.dtype) ? linearHalfWeights(plan) : widened.linear(plan)),
};

/** Makes a backend-js instance (each has its own table cache). */
export function createJsBackend(options: JsBackendOptions = {}): Backend {
  checkOptions(options, ["tableCacheSize"]);
  return defineBackend({
    name: "js",
    kernels,
    syncKernels: kernels,
    ...(options.tableCacheSize !== undefined ? { tableCacheSize: options.tableCacheSize } : {}),
    describe: () => ({
      name: "js",
      mode: "js-f32",
      precision: "f32",
      dtypes: ["float32", "float16", "bfloat16"],
      ...EVERY_OP_AND_LAYOUT,
      threads: 1,
      notes:
        "plain TypeScript on the calling thread; cos/sin tables in f32 from f64 trig, cached across calls; float16/bfloat16 converted to f32 at each kernel's boundary",
    }),
  });
}

/** Registration for the registry: runs in every JavaScript runtime. */
export const jsRegistration: BackendRegistration = {
  name: "js",
  priority: 10,
  isSupported: () => true,
  create: () => createJsBackend(),
};
