import type { AddRowsKernelPlan, EmbeddingTensor } from "@ropekit/core";
import { split } from "../execution.js";
import { type Env, type MaybePromise, inScope } from "../scope.js";

/**
 * addLearned and addSinusoidal: out[t] = x[t] + table[rows[t]] in wasm memory. A resident x in place is
 * written where it lies, other arrays are copied in and out; the table (the learned one, or core's f64
 * encoding rows, rounded to f32 here) is used where it lies if resident, else copied in.
 */
export function addRows(env: Env, plan: AddRowsKernelPlan): MaybePromise<EmbeddingTensor<Float32Array>> {
  const x = plan.x.data as Float32Array;
  // Plain arrays on both sides: an element-wise add is bound by memory, and staging x and the table in
  // wasm memory would move them three times; add them where they are, in one pass. (Resident tensors —
  // views of wasm memory — take the kernel path, which also checks they are still alive.)
  if (!env.heap.owns(x.buffer) && !env.heap.owns(plan.table.buffer)) return addRowsHere(plan, x);
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

/** out[t] = x[t] + table[rows[t]] on the calling thread, for arrays outside wasm memory. */
function addRowsHere(plan: AddRowsKernelPlan, x: Float32Array): EmbeddingTensor<Float32Array> {
  const [batch, seq, dim] = plan.dims;
  const out = plan.inPlace ? x : new Float32Array(x);
  const { table, rows } = plan;
  for (let t = 0; t < batch * seq; t++) {
    const o = t * dim;
    const r = (rows[t] as number) * dim;
    for (let c = 0; c < dim; c++) out[o + c] = (out[o + c] as number) + (table[r + c] as number);
  }
  return { data: out, shape: [batch, seq, dim] };
}
