import type { RmsNormKernelPlan, Tensor } from "@ropekit/core";
import { split } from "../execution.js";
import { type Env, type MaybePromise, inScope } from "../scope.js";

/**
 * RMSNorm over the last dimension by the rmsNorm kernel (f64 sum of squares, f32x4 scaling), rows split
 * over the threads. A resident x in place is normalised where it lies; other arrays are copied in and
 * out (in place in wasm memory, then into x itself or a new array).
 */
export function rmsNorm(env: Env, plan: RmsNormKernelPlan): MaybePromise<Tensor<Float32Array>> {
  return inScope(env, (scope) => {
    const { rows, dim, eps, weightOffset } = plan;
    const input = scope.input(plan.x.data as Float32Array, "x.data");
    const wi = plan.weight ? scope.input(plan.weight.data as Float32Array, "weight.data") : undefined;
    const w = wi ? scope.place(wi) : 0; // inputs are looked at before allocating (growth detaches views)
    const n = input.length;
    const inWasm = plan.inPlace && input.ptr !== undefined && input.region !== undefined;
    // Out of place, a resident x is read where it lies and written to a new block.
    const x = scope.place(input);
    const y = inWasm || input.ptr === undefined ? x : scope.alloc(n * 4);
    const out =
      inWasm && input.region
        ? env.residents.view(input.region, y, n) // after the last allocation
        : plan.inPlace
          ? input.read()
          : new Float32Array(n);
    const parts = split(rows, env.exec.threads).map(([start, end]) => [
      x,
      w,
      y,
      dim,
      eps,
      weightOffset,
      start,
      end,
    ]);
    return {
      result: { data: out, shape: [...plan.x.shape] },
      done: env.exec.run("rmsNorm", parts),
      copyOut: inWasm ? undefined : () => out.set(env.heap.f32At(y, n)),
    };
  });
}
