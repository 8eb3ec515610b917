import type { Dtype } from "@ropekit/core";
import * as P from "./attention-layout.js";
import type { Heap } from "./heap.js";
import type { Region, Residents } from "./residents.js";

/** A dtype the kernels store: f32 values, or float16 / bfloat16 bits. */
export type KernelDtype = "float32" | "float16" | "bfloat16";

/** The kernels' code of a dtype the backend declares (src/attention-layout.ts's DTYPE_*). */
export function kernelDtypeCode(dtype: Dtype | undefined): number {
  if (dtype === "float16") return P.DTYPE_F16;
  if (dtype === "bfloat16") return P.DTYPE_BF16;
  return P.DTYPE_F32;
}

/** Bytes per element of a kernel dtype: 2 for the halves, 4 for f32 (and anything else). */
export function dtypeBytes(dtype: Dtype | undefined): 2 | 4 {
  return dtype === "float16" || dtype === "bfloat16" ? 2 : 4;
}

/** A new array of `n` elements of `dtype`: Float32Array, or Uint16Array for half bits. */
export function newArray(dtype: Dtype | undefined, n: number): Float32Array | Uint16Array {
  return dtypeBytes(dtype) === 2 ? new Uint16Array(n) : new Float32Array(n);
}

/** `n` elements of `dtype` at byte address `ptr` of wasm memory (a view of the current buffer). */
export function heapArray(
  heap: Heap,
  dtype: Dtype | undefined,
  ptr: number,
  n: number,
): Float32Array | Uint16Array {
  return dtypeBytes(dtype) === 2 ? new Uint16Array(heap.buffer(), ptr, n) : heap.f32At(ptr, n);
}

/** A resident tensor's elements at `ptr`, as a view of the current buffer remembered as the region's. */
export function residentView(
  residents: Residents,
  region: Region,
  dtype: Dtype | undefined,
  ptr: number,
  n: number,
): Float32Array | Uint16Array {
  return dtypeBytes(dtype) === 2 ? residents.halfView(region, ptr, n) : residents.view(region, ptr, n);
}

/** `{ dtype }` for a half output (f32 outputs carry none, as before). */
export function halfTag(dtype: Dtype | undefined): { dtype?: Dtype } {
  return dtype === "float16" || dtype === "bfloat16" ? { dtype } : {};
}
