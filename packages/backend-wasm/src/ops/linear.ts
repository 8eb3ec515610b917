import type { LinearKernelPlan, Tensor } from "@ropekit/core";
import { split } from "../execution.js";
import { type Env, type MaybePromise, inScope } from "../scope.js";

/** y = x·Wᵀ + b: x, W and b used where they lie if resident, else copied in; rows split over the threads. */
export function linear(env: Env, plan: LinearKernelPlan): MaybePromise<Tensor<Float32Array>> {
  return inScope(env, (scope) => {
    const { rows, inFeatures, outFeatures, outShape } = plan;
    // Every input is looked at before the first allocation, which may grow (and so detach) the memory.
    const xi = scope.input(plan.x.data as Float32Array, "x.data");
    const wi = scope.input(plan.weight.data as Float32Array, "weight.data");
    const bi = plan.bias ? scope.input(plan.bias.data as Float32Array, "bias.data") : undefined;
    const x = scope.place(xi);
    const w = scope.place(wi);
    const b = bi ? scope.place(bi) : 0;
    const y = scope.alloc(rows * outFeatures * 4);
    const parts = split(rows, env.exec.threads).map(([start, end]) => [
      x,
      w,
      b,
      y,
      inFeatures,
      outFeatures,
      start,
      end,
    ]);
    const out = new Float32Array(rows * outFeatures);
    return {
      result: { data: out, shape: outShape },
      done: env.exec.run("linear", parts),
      copyOut: () => out.set(env.heap.f32At(y, out.length)),
    };
  });
}
