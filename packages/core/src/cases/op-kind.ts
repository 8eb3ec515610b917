import type { Backend } from "../backend/contract.js";
import type { FloatArray, Tensor } from "../types.js";
import { seededValues } from "./seeded.js";

/** A case of an op kind: its id (which seeds its inputs) and the op it exercises. */
export interface KindCase {
  readonly id: string;
  readonly op: string;
}

/** The seeded inputs of a case, by name, as plain f64 numbers (multiples of 1/256: exact in f32). */
export type CaseInputs = Readonly<
  Record<string, { readonly data: Float64Array; readonly shape: readonly number[] }>
>;

/** The same inputs as tensors of the element type a backend takes. */
export type CaseTensors = Readonly<Record<string, Tensor>>;

/**
 * Everything about one op kind that the golden generator, the conformance suite and the benchmarks need
 * (as ggml's test-backend-ops keeps one test_case per op): its cases, their seeded inputs, how to call the
 * op on a backend, the f64 reference, and the bytes and flops of one call. Adding an op is adding one of
 * these (plus the contract entry and a kernel per backend).
 */
export interface OpKind<C extends KindCase = KindCase> {
  readonly op: C["op"];
  readonly cases: readonly C[];
  /** The seeded inputs of a case, by name. */
  inputs(c: C): CaseInputs;
  /** Calls the op on `backend`. */
  run(backend: Backend, c: C, tensors: CaseTensors): Promise<Tensor>;
  /** The f64 reference's output for the same inputs. */
  reference(c: C, tensors: CaseTensors): Tensor<FloatArray>;
  /**
   * The input whose dtype the output takes when the others are weights (linear's and rmsNorm's `x`): the
   * dtype suite also runs the op with it in float32 and the weights in a half dtype.
   */
  readonly activation?: string;
  /** Bytes a call must read and write (for the copy-ceiling ratio). */
  bytes(c: C): number;
  /** Floating-point operations of a call. */
  flops(c: C): number;
}

/** The inputs of a case as tensors built with `make` (Float32Array.from for an f32 backend, say). */
export function caseTensors(
  inputs: CaseInputs,
  make: (values: ArrayLike<number>) => FloatArray,
): CaseTensors {
  return Object.fromEntries(
    Object.entries(inputs).map(([name, t]) => [name, { data: make(t.data), shape: t.shape }]),
  );
}

/** The number of elements of `shape`. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Input `name` of case `id`: seeded values (from `${id}/${name}`) of `shape`. */
export function seededInput(id: string, name: string, shape: readonly number[]): CaseInputs[string] {
  return { data: seededValues(`${id}/${name}`, elementCount(shape)), shape };
}
