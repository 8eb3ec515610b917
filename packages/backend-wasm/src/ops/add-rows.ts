import type { AddRowsKernelPlan, EmbeddingTensor } from "@ropekit/core";
import { split } from "../execution.js";
import { type Env, type MaybePromise, inScope } from "../scope.js";

/**
 * addLearned and addSinusoidal: out[t] = x[t] + table[rows[t]] in wasm memory. A resident x in place is
 * written where it lies, other arrays are copied in and out; the table (the learned one, or core's f64
 * encoding rows, rounded to f32 here) is used where it lies if resident, else copied in.
 */
export function addRows(env: Env, plan: AddRowsKernelPlan): MaybePromise<EmbeddingTensor<Float32Array>> {
  return inScope(env, (scope) => {
    const [batch, seq, dim] = plan.dims;
    const input = scope.input(plan.x.data as Float32Array, "x.data");
    // Inputs are looked at before the first allocation, which may grow (and so detach) the memory.
    const learned = plan.table instanceof Float32Array ? scope.input(plan.table, "table.data") : undefined;
    const table = learned ? scope.place(learned) : scope.f32(plan.table);
    const rowsPtr = scope.i32(plan.rows);
    const n = input.length;
    const inWasm = plan.inPlace && input.ptr !== undefined && input.region !== undefined;
    const ptr = inWasm ? (input.ptr as number) : scope.copy(input);
    const out =
      inWasm && input.region
        ? env.residents.view(input.region, ptr, n) // after the last allocation
        : plan.inPlace
          ? input.read()
          : new Float32Array(n);
    const parts = split(batch * seq, env.exec.threads).map(([start, end]) => [
      ptr,
      table,
      rowsPtr,
      dim,
      start,
      end,
    ]);
    return {
      result: { data: out, shape: [batch, seq, dim] },
      done: env.exec.run("addRows", parts),
      copyOut: inWasm ? undefined : () => out.set(env.heap.f32At(ptr, n)),
    };
  });
}
