import type { RmsNormKernelPlan, Tensor } from "@ropekit/core";
import { dtypeBytes, halfTag, heapArray, kernelDtypeCode, newArray, residentView } from "../dtypes.js";
import { split } from "../execution.js";
import { type Env, type MaybePromise, inScope } from "../scope.js";

/**
 * RMSNorm over the last dimension by the rmsNorm kernel (f64 sum of squares, f32x4 scaling), rows split
 * over the threads. A resident x in place is normalised where it lies; other arrays are copied in and
 * out (in place in wasm memory, then into x itself or a new array). float16 / bfloat16 x and weight
 * travel as their bits: the kernel converts as it loads, and writes x's dtype rounded to nearest even.
 */
export function rmsNorm(env: Env, plan: RmsNormKernelPlan): MaybePromise<Tensor> {
  return inScope(env, (scope) => {
    const { rows, dim, eps, weightOffset } = plan;
    const dtype = plan.x.dtype;
    const input = scope.input(plan.x.data as Float32Array | Uint16Array, "x.data");
    const wi = plan.weight
      ? scope.input(plan.weight.data as Float32Array | Uint16Array, "weight.data")
      : undefined;
    const w = wi ? scope.place(wi) : 0; // inputs are looked at before allocating (growth detaches views)
    const n = input.length;
    const inWasm = plan.inPlace && input.ptr !== undefined && input.region !== undefined;
    // Out of place, a resident x is read where it lies and written to a new block.
    const x = scope.place(input);
    const y = inWasm || input.ptr === undefined ? x : scope.alloc(n * dtypeBytes(dtype));
    const out =
      inWasm && input.region
        ? residentView(env.residents, input.region, dtype, y, n) // after the last allocation
        : plan.inPlace
          ? input.read()
          : newArray(dtype, n);
    const xCode = kernelDtypeCode(dtype);
    const wCode = kernelDtypeCode(plan.weight?.dtype);
    const parts = split(rows, env.exec.threads).map(([start, end]) => [
      x,
      w,
      y,
      dim,
      eps,
      weightOffset,
      start,
      end,
      xCode,
      wCode,
    ]);
    return {
      result: { data: out, shape: [...plan.x.shape], ...halfTag(dtype) },
      done: env.exec.run("rmsNorm", parts),
      copyOut: inWasm ? undefined : () => out.set(heapArray(env.heap, dtype, y, n)),
    };
  });
}
