import type { Kernels, SyncKernels } from "@ropekit/core";
import { addRows } from "./ops/add-rows.js";
import { applyRope } from "./ops/apply-rope.js";
import { attention } from "./ops/attention.js";
import { linear } from "./ops/linear.js";
import { rmsNorm } from "./ops/rms-norm.js";
import type { Env, MaybePromise } from "./scope.js";

/**
 * The kernels, running where `env.exec` runs them. Every op reads float16 / bfloat16 data itself: half
 * tensors travel as their bits, the kernels convert them to f32 with SIMD as they load them (attention
 * per tile, the others four or eight values at a time), compute in f32 and round a half output to
 * nearest even as they store it — no separate conversion pass over a tensor.
 */
export function wasmKernels(env: Env): Kernels {
  return {
    applyRope: (plan) => applyRope(env, plan),
    addRows: (plan) => addRows(env, plan),
    attention: (plan) => attention(env, plan),
    linear: (plan) => linear(env, plan),
    rmsNorm: (plan) => rmsNorm(env, plan),
  };
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
