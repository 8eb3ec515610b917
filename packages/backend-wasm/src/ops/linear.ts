import type { LinearKernelPlan, Tensor } from "@ropekit/core";
import { dtypeBytes, halfTag, heapArray, kernelDtypeCode, newArray } from "../dtypes.js";
import { split } from "../execution.js";
import { type Env, type MaybePromise, inScope } from "../scope.js";

/**
 * y = x·Wᵀ + b: x, W and b used where they lie if resident, else copied in (halves as their bits); rows
 * split over the threads. Each tensor keeps its dtype — e.g. f32 activations with bfloat16 weights: the
 * kernel converts halves as it loads them, accumulates in f32 and rounds a half output to nearest even.
 */
export function linear(env: Env, plan: LinearKernelPlan): MaybePromise<Tensor> {
  return inScope(env, (scope) => {
    const { rows, inFeatures, outFeatures, outShape, outDtype } = plan;
    // Every input is looked at before the first allocation, which may grow (and so detach) the memory.
    const xi = scope.input(plan.x.data as Float32Array | Uint16Array, "x.data");
    const wi = scope.input(plan.weight.data as Float32Array | Uint16Array, "weight.data");
    const bi = plan.bias ? scope.input(plan.bias.data as Float32Array | Uint16Array, "bias.data") : undefined;
    const x = scope.place(xi);
    const w = scope.place(wi);
    const b = bi ? scope.place(bi) : 0;
    const n = rows * outFeatures;
    const y = scope.alloc(n * dtypeBytes(outDtype));
    const codes = [
      kernelDtypeCode(plan.x.dtype),
      kernelDtypeCode(plan.weight.dtype),
      kernelDtypeCode(plan.bias?.dtype),
      kernelDtypeCode(outDtype),
    ];
    const parts = split(rows, env.exec.threads).map(([start, end]) => [
      x,
      w,
      b,
      y,
      inFeatures,
      outFeatures,
      start,
      end,
      ...codes,
    ]);
    const out = newArray(outDtype, n);
    return {
      result: { data: out, shape: outShape, ...halfTag(outDtype) },
      done: env.exec.run("linear", parts),
      copyOut: () => out.set(heapArray(env.heap, outDtype, y, n)),
    };
  });
}
