import { RopekitError, describeValue } from "../errors.js";
import { isResidentData, requireHostData } from "../resident.js";
import type { Dtype, FloatArray, Tensor, TensorData } from "../types.js";
import { type HalfDtype, decodeHalf, encodeHalf, roundToHalf } from "./half.js";

/** Every dtype, in the order messages list them. */
export const DTYPES: readonly Dtype[] = ["float32", "float16", "bfloat16", "float64"];

/** The runtime's Float16Array constructor, or undefined (Node 20 has none). */
function float16ArrayClass(): (abstract new (...args: never[]) => object) | undefined {
  const c = (globalThis as { Float16Array?: abstract new (...args: never[]) => object }).Float16Array;
  return typeof c === "function" ? c : undefined;
}

/** True for a Float16Array (on runtimes that have one). */
export function isFloat16Array(data: unknown): boolean {
  const c = float16ArrayClass();
  return c !== undefined && data instanceof c;
}

/**
 * True for data a tensor may hold: Float32Array, Float64Array, Uint16Array (half bits) or Float16Array.
 */
export function isTensorData(data: unknown): boolean {
  return (
    data instanceof Float32Array ||
    data instanceof Float64Array ||
    data instanceof Uint16Array ||
    isFloat16Array(data)
  );
}

/**
 * The dtype an array says by itself: Float32Array → "float32", Float64Array → "float64", Float16Array →
 * "float16"; undefined for anything else, a Uint16Array included (its bits could be either half format).
 */
export function dtypeOf(data: unknown): Dtype | undefined {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (isFloat16Array(data)) return "float16";
  return undefined;
}

/** True for the 16-bit dtypes. */
export function isHalfDtype(dtype: Dtype): dtype is HalfDtype {
  return dtype === "float16" || dtype === "bfloat16";
}

/**
 * The dtype of a tensor, checked: its `dtype` when given (it must agree with the array: Float32Array
 * "float32", Float64Array "float64", Uint16Array "float16"/"bfloat16", Float16Array "float16"), else what
 * the array says. A Uint16Array without a dtype, or a contradiction, raises INVALID_DTYPE.
 */
export function tensorDtype(tensor: Pick<Tensor, "data" | "dtype">, name: string): Dtype {
  const { data, dtype } = tensor;
  if (isResidentData(data)) {
    // Resident data knows its dtype; a declared one must agree.
    if (dtype !== undefined && dtype !== data.dtype) {
      throw new RopekitError(
        "INVALID_DTYPE",
        `${name}.dtype is ${describeValue(dtype)} but ${name}.data is resident ${data.dtype} data`,
        `${name}.dtype`,
      );
    }
    return data.dtype;
  }
  const implied = dtypeOf(data);
  if (dtype === undefined) {
    if (implied !== undefined) return implied;
    if (data instanceof Uint16Array) {
      throw new RopekitError(
        "INVALID_DTYPE",
        `${name}.data is a Uint16Array: pass dtype "float16" or "bfloat16" with it to say which bits it holds`,
        `${name}.dtype`,
      );
    }
    throw new RopekitError(
      "INVALID_DTYPE",
      `${name}.data must be a Float32Array, Float64Array, Float16Array or Uint16Array (with dtype), got ${describeValue(data)}`,
      `${name}.data`,
    );
  }
  if (!DTYPES.includes(dtype)) {
    throw new RopekitError(
      "INVALID_DTYPE",
      `${name}.dtype must be one of ${DTYPES.join(", ")}, got ${describeValue(dtype)}`,
      `${name}.dtype`,
    );
  }
  const agrees = implied === dtype || (data instanceof Uint16Array && isHalfDtype(dtype));
  if (!agrees) {
    throw new RopekitError(
      "INVALID_DTYPE",
      `${name}.dtype is ${dtype} but ${name}.data is ${describeValue(data)}${isHalfDtype(dtype) ? " (half data is a Uint16Array of bits)" : ""}`,
      `${name}.dtype`,
    );
  }
  return dtype;
}

/**
 * The array kernels see for data of `dtype`: half data as a Uint16Array of bits (a Float16Array is
 * viewed, not copied, so writes reach the caller's array); float data as is.
 */
export function kernelData(data: TensorData, dtype: Dtype): TensorData {
  if (isResidentData(data)) return data;
  if (isHalfDtype(dtype) && !(data instanceof Uint16Array)) {
    const view = data as unknown as ArrayBufferView & { length: number };
    return new Uint16Array(view.buffer, view.byteOffset, view.length);
  }
  return data;
}

/** A new zeroed array for `count` elements of `dtype` (halves as Uint16Array bits). */
export function allocDtype(dtype: Dtype, count: number): TensorData {
  if (dtype === "float64") return new Float64Array(count);
  if (dtype === "float32") return new Float32Array(count);
  return new Uint16Array(count);
}

/**
 * `data` (of `from`) as numbers in a Float32Array or Float64Array — exact for halves, which every f32
 * holds. Float data of the requested width is returned as is (no copy).
 */
export function widenData<T extends "float32" | "float64">(
  data: TensorData,
  from: Dtype,
  to: T,
): T extends "float32" ? Float32Array : Float64Array {
  type Out = T extends "float32" ? Float32Array : Float64Array;
  requireHostData(data, "data");
  const Type = to === "float32" ? Float32Array : Float64Array;
  if (data instanceof Type) return data as Out;
  if (isHalfDtype(from)) {
    return decodeHalf(kernelData(data, from) as Uint16Array, from, new Type(data.length)) as Out;
  }
  return Type.from(data) as Out;
}

/**
 * Values rounded to `dtype` (ties to even) into an array of that dtype: halves as Uint16Array bits,
 * "float32" as a Float32Array, "float64" as a Float64Array copy. Writes into `out` when given.
 */
export function narrowData(values: ArrayLike<number>, dtype: Dtype, out?: TensorData): TensorData {
  if (isHalfDtype(dtype)) return encodeHalf(values, dtype, out as Uint16Array | undefined);
  const dst = out ?? allocDtype(dtype, values.length);
  for (let i = 0; i < values.length; i++) dst[i] = values[i] as number;
  return dst;
}

/**
 * A tensor converted to `dtype` (rounded to nearest, ties to even, when narrowing): how to make a
 * float16/bfloat16 tensor from f32 weights, or read one back as f32.
 *
 * @example
 * ```ts
 * const w16 = convertTensor({ data: weightF32, shape: [out, inp] }, "bfloat16"); // Uint16Array + dtype
 * ```
 */
export function convertTensor<T extends Tensor>(
  tensor: T,
  dtype: Dtype,
): Omit<T, "data" | "dtype"> & { readonly data: TensorData; readonly dtype: Dtype } {
  requireHostData(tensor.data, "tensor.data");
  const from = tensorDtype(tensor, "tensor");
  if (!DTYPES.includes(dtype)) {
    throw new RopekitError("INVALID_DTYPE", `dtype must be one of ${DTYPES.join(", ")}`, "dtype");
  }
  const values = isHalfDtype(from) ? widenData(tensor.data, from, "float64") : tensor.data;
  const data = from === dtype ? tensor.data.slice() : narrowData(values, dtype);
  return { ...tensor, data, dtype };
}

/** `x` rounded to the nearest value of `dtype` (f32: Math.fround; f64: x itself). */
export function roundToDtype(x: number, dtype: Dtype): number {
  if (dtype === "float64") return x;
  if (dtype === "float32") return Math.fround(x);
  return roundToHalf(x, dtype);
}

/**
 * A tensor with half data as its exact values in a Float64Array (dtype "float64"): how the f64
 * reference reads float16/bfloat16 inputs. Float tensors are returned as they are.
 */
export function widenTensor<T extends Tensor>(tensor: T, name: string): T {
  const dtype = tensorDtype(tensor, name);
  if (!isHalfDtype(dtype)) return tensor;
  return { ...tensor, data: widenData(tensor.data, dtype, "float64"), dtype: "float64" };
}

/**
 * What a standalone f64 reference function (applyRopeReference, rmsNormReference, …) computes on: half
 * inputs as their exact f64 values. In place on half data is refused (INVALID_OPTION): the reference
 * computes and returns f64; a backend (the reference backend included) rounds in place.
 */
export function referenceInput<T extends Tensor>(
  x: T,
  name: string,
  inPlace = false,
): T & { data: FloatArray } {
  const dtype = tensorDtype(x, name);
  if (!isHalfDtype(dtype)) return x as T & { data: FloatArray };
  if (inPlace) {
    throw new RopekitError(
      "INVALID_OPTION",
      `inPlace on ${dtype} ${name} needs a backend (the reference functions return f64); use createReferenceBackend()`,
      "inPlace",
    );
  }
  return widenTensor(x, name) as T & { data: FloatArray };
}
