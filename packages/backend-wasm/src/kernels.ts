import { type Kernels, type SyncKernels, widenHalfKernels } from "@ropekit/core";
import { addRows } from "./ops/add-rows.js";
import { applyRope } from "./ops/apply-rope.js";
import { attention } from "./ops/attention.js";
import { linear } from "./ops/linear.js";
import { rmsNorm } from "./ops/rms-norm.js";
import type { Env, MaybePromise } from "./scope.js";

/**
 * The kernels, running where `env.exec` runs them. Attention reads float16 / bfloat16 q, k, v itself
 * (converted to f32 as each tile is loaded, output rounded as it is stored); the other ops take halves
 * through core's widenHalfKernels — one f32 conversion of each half tensor at the kernel's boundary.
 */
export function wasmKernels(env: Env): Kernels {
  const f32Only: Kernels = {
    applyRope: (plan) => applyRope(env, plan),
    addRows: (plan) => addRows(env, plan),
    attention: (plan) => attention(env, plan),
    linear: (plan) => linear(env, plan),
    rmsNorm: (plan) => rmsNorm(env, plan),
  };
  return { ...widenHalfKernels(f32Only, "float32"), attention: f32Only.attention };
}

/** A kernel whose parts all ran on this thread has its value already. */
function now<T>(value: MaybePromise<T>): T {
  if (value instanceof Promise) throw new Error("backend-wasm: a kernel of a sync op went async");
  return value;
}

/** The kernels of the sync ops: `env.exec` must run everything on this thread. */
export function wasmSyncKernels(env: Env): SyncKernels {
  const k = wasmKernels(env);
  return {
    applyRope: (plan) => now(k.applyRope(plan)),
    addRows: (plan) => now(k.addRows(plan)),
    attention: (plan) => now(k.attention(plan)),
    linear: (plan) => now(k.linear(plan)),
    rmsNorm: (plan) => now(k.rmsNorm(plan)),
  };
}
