import { type AddRowsKernelPlan, type EmbeddingTensor, isHalfDtype } from "@ropekit/core";
import { halfTag, heapArray, kernelDtypeCode, newArray, residentView } from "../dtypes.js";
import { split } from "../execution.js";
import { type Env, type MaybePromise, inScope } from "../scope.js";

/**
 * addLearned and addSinusoidal: out[t] = x[t] + table[rows[t]] in wasm memory. A resident x in place is
 * written where it lies, other arrays are copied in and out; the table (the learned one, or core's f64
 * encoding rows, rounded to f32 here) is used where it lies if resident, else copied in. float16 /
 * bfloat16 x and learned tables travel as their bits; the kernel converts them as it loads (the sum is
 * f32) and rounds a half x's result to nearest even as it stores.
 */
export function addRows(env: Env, plan: AddRowsKernelPlan): MaybePromise<EmbeddingTensor> {
  const xDtype = plan.x.dtype;
  const halfTable = isHalfDtype(plan.tableDtype);
  // Plain f32 arrays on both sides: an element-wise add is bound by memory, and staging x and the table in
  // wasm memory would move them three times; add them where they are, in one pass. (Resident tensors —
  // views of wasm memory — take the kernel path, which also checks they are still alive; so do halves,
  // which the kernel converts with SIMD.)
  if (
    !isHalfDtype(xDtype) &&
    !halfTable &&
    !env.heap.owns(plan.x.data.buffer) &&
    !env.heap.owns(plan.table.buffer)
  )
    return addRowsHere(plan, plan.x.data as Float32Array);
  return inScope(env, (scope) => {
    const [batch, seq, dim] = plan.dims;
    const input = scope.input(plan.x.data as Float32Array | Uint16Array, "x.data");
    // Inputs are looked at before the first allocation, which may grow (and so detach) the memory.
    const learned =
      plan.table instanceof Float32Array || plan.table instanceof Uint16Array
        ? scope.input(plan.table, "table.data")
        : undefined;
    const table = learned ? scope.place(learned) : scope.f32(plan.table);
    const tableCode = kernelDtypeCode(learned ? plan.tableDtype : "float32");
    const rowsPtr = scope.i32(plan.rows);
    const n = input.length;
    const inWasm = plan.inPlace && input.ptr !== undefined && input.region !== undefined;
    const ptr = inWasm ? (input.ptr as number) : scope.copy(input);
    const out =
      inWasm && input.region
        ? residentView(env.residents, input.region, xDtype, ptr, n) // after the last allocation
        : plan.inPlace
          ? input.read()
          : newArray(xDtype, n);
    const xCode = kernelDtypeCode(xDtype);
    const parts = split(batch * seq, env.exec.threads).map(([start, end]) => [
      ptr,
      table,
      rowsPtr,
      dim,
      start,
      end,
      xCode,
      tableCode,
    ]);
    return {
      result: { data: out, shape: [batch, seq, dim], ...halfTag(xDtype) },
      done: env.exec.run("addRows", parts),
      copyOut: inWasm ? undefined : () => out.set(heapArray(env.heap, xDtype, ptr, n)),
    };
  });
}

/** out[t] = x[t] + table[rows[t]] on the calling thread, for f32 x and an f32 / f64 table outside wasm memory. */
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
