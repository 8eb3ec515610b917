import { isTensorData } from "./dtype/dtype.js";
import { RopekitError, describeValue } from "./errors.js";
import { isResidentData, requireHostData } from "./resident.js";
import type { EmbeddingTensor, HeadsTensor, Layout, Tensor, TensorData } from "./types.js";

/**
 * Checks the shape (and optional layout) a backend's resident tensor is made with — a non-empty array of
 * positive integers; with a layout, four of them — and returns its element count. The one check behind
 * every backend's `tensor()` (backend-wasm, backend-webgpu), so they raise the same errors.
 *
 * @example
 * ```ts
 * residentTensorElements([1, 16, 8, 64], "bshd"); // 8192
 * residentTensorElements([1, 16, 8], "bshd"); // INVALID_SHAPE: a tensor with a layout has 4 dimensions
 * ```
 */
export function residentTensorElements(shape: unknown, layout: unknown): number {
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((n) => Number.isSafeInteger(n) && n > 0)) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `shape must be a non-empty array of positive integers, got ${describeValue(shape)}`,
      "shape",
    );
  }
  if (layout !== undefined && layout !== "bshd" && layout !== "bhsd") {
    throw new RopekitError(
      "INVALID_LAYOUT",
      `layout must be "bshd" or "bhsd", got ${describeValue(layout)}`,
      "layout",
    );
  }
  if (layout !== undefined && shape.length !== 4) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `a tensor with a layout has 4 dimensions, got ${shape.length}`,
      "shape",
    );
  }
  return (shape as number[]).reduce((a, b) => a * b, 1);
}

/** Shape and strides of a head tensor, whatever its layout. Offsets are in elements. */
export interface HeadsDims {
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly headDim: number;
  readonly layout: Layout;
  readonly strideBatch: number;
  readonly strideSeq: number;
  readonly strideHead: number;
}

const LAYOUTS: readonly Layout[] = ["bshd", "bhsd"];

function isDetached(buffer: ArrayBufferLike): boolean {
  const detached = (buffer as { detached?: boolean }).detached;
  if (detached !== undefined) return detached;
  // Node 20 lacks ArrayBuffer.prototype.detached. A detached buffer reads as zero bytes there, and so
  // does a fresh empty one; only the detached one refuses a new view.
  if (buffer.byteLength !== 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/** How many `withResidentData` calls are running now (planning in `defineBackend`). */
let residentAccepted = 0;

/**
 * Runs `f` with resident data accepted by `checkFloatData` (checked by its length alone): the opt-in of
 * `defineBackend`'s planning, which then sends the data to the backend that holds it or raises
 * WRONG_BACKEND. Everywhere else — reference functions, conversions, modules — resident data is refused.
 * `f` must be synchronous: the opt-in ends when it returns.
 */
export function withResidentData<T>(f: () => T): T {
  residentAccepted++;
  try {
    return f();
  } finally {
    residentAccepted--;
  }
}

/**
 * Checks that `data` is a live tensor array — Float32Array, Float64Array, or float16/bfloat16 bits in a
 * Uint16Array (or a Float16Array) — of `expected` elements. Which dtype a Uint16Array holds is the
 * tensor's `dtype`, checked by `tensorDtype`. Resident data (`ResidentData`, held by a backend) raises
 * WRONG_BACKEND, except inside `withResidentData` (defineBackend's planning), where it is checked by its
 * length alone and which backend may take it is `defineBackend`'s check.
 */
export function checkFloatData(data: unknown, expected: number, name: string): asserts data is TensorData {
  if (isResidentData(data)) {
    if (residentAccepted === 0) requireHostData(data, name);
    if (data.length !== expected) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `${name} is resident data of ${data.length} elements but its shape needs ${expected}`,
        name,
      );
    }
    return;
  }
  if (!isTensorData(data)) {
    throw new RopekitError(
      "INVALID_DTYPE",
      `${name} must be a Float32Array, Float64Array or Uint16Array of float16/bfloat16 bits, got ${describeValue(data)}`,
      name,
    );
  }
  const array = data as TensorData;
  if (expected > 0 && array.length === 0 && isDetached(array.buffer)) {
    throw new RopekitError(
      "DETACHED_BUFFER",
      `${name} has a detached buffer (was it transferred?); expected ${expected} elements`,
      name,
    );
  }
  if (array.length !== expected) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `${name} has ${array.length} elements but its shape needs ${expected}`,
      name,
    );
  }
}

function checkShape(shape: unknown, rank: number, name: string): readonly number[] {
  if (!Array.isArray(shape) || shape.length !== rank) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `${name} must be an array of ${rank} dimensions, got ${describeValue(shape)}`,
      name,
    );
  }
  for (const [i, n] of shape.entries()) {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `${name}[${i}] must be a positive integer, got ${describeValue(n)}`,
        name,
      );
    }
  }
  return shape as readonly number[];
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Validates a tensor of any rank ≥ 1 whose last dimension is the one an op works along (linear, rmsNorm):
 * returns the number of rows (every other dimension) and the length of the last.
 */
export function rowsOfLastDim(x: Tensor, name = "x"): { rows: number; dim: number } {
  if (x === null || typeof x !== "object" || !Array.isArray(x.shape) || x.shape.length < 1) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `${name} must be a tensor with at least one dimension`,
      `${name}.shape`,
    );
  }
  const shape = checkShape(x.shape, x.shape.length, `${name}.shape`);
  const dim = shape[shape.length - 1] as number;
  const rows = product(shape) / dim;
  checkFloatData(x.data, rows * dim, `${name}.data`);
  return { rows, dim };
}

/** Validates a rank-4 head tensor and returns its dims and strides. */
export function headsDims(x: HeadsTensor, name = "x"): HeadsDims {
  if (x === null || typeof x !== "object") {
    throw new RopekitError("INVALID_SHAPE", `${name} must be a tensor {data, shape, layout}`, name);
  }
  if (!LAYOUTS.includes(x.layout)) {
    throw new RopekitError(
      "INVALID_LAYOUT",
      `${name}.layout must be "bshd" or "bhsd", got ${describeValue(x.layout)}`,
      `${name}.layout`,
    );
  }
  const shape = checkShape(x.shape, 4, `${name}.shape`);
  checkFloatData(x.data, product(shape), `${name}.data`);
  const [batch, a, b, headDim] = shape as [number, number, number, number];
  return x.layout === "bshd"
    ? layoutDims("bshd", batch, a, b, headDim)
    : layoutDims("bhsd", batch, b, a, headDim);
}

/** Dims and strides of a head tensor of these sizes in `layout` (no data to check). */
export function layoutDims(
  layout: Layout,
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
): HeadsDims {
  return layout === "bshd"
    ? {
        batch,
        seq,
        heads,
        headDim,
        layout,
        strideBatch: seq * heads * headDim,
        strideSeq: heads * headDim,
        strideHead: headDim,
      }
    : {
        batch,
        seq,
        heads,
        headDim,
        layout,
        strideBatch: heads * seq * headDim,
        strideSeq: headDim,
        strideHead: seq * headDim,
      };
}

/** Validates a rank-3 embedding tensor and returns [batch, seq, dim]. */
export function embeddingDims(x: EmbeddingTensor, name = "x"): readonly [number, number, number] {
  if (x === null || typeof x !== "object") {
    throw new RopekitError("INVALID_SHAPE", `${name} must be a tensor {data, shape}`, name);
  }
  const shape = checkShape(x.shape, 3, `${name}.shape`);
  checkFloatData(x.data, product(shape), `${name}.data`);
  return shape as unknown as readonly [number, number, number];
}

/** Validates a rank-2 table [rows, dim] and returns it. */
export function tableDims(x: Tensor, name: string): readonly [number, number] {
  if (x === null || typeof x !== "object") {
    throw new RopekitError("INVALID_SHAPE", `${name} must be a tensor {data, shape}`, name);
  }
  const shape = checkShape(x.shape, 2, `${name}.shape`);
  checkFloatData(x.data, product(shape), `${name}.data`);
  return shape as unknown as readonly [number, number];
}

/** Validates a vector of `length` elements (a bias, a norm weight): shape [length] and data to match. */
export function checkVector(x: Tensor | null | undefined, length: number, name: string, what: string): void {
  if (
    x === null ||
    typeof x !== "object" ||
    !Array.isArray(x.shape) ||
    x.shape.length !== 1 ||
    x.shape[0] !== length
  ) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `${name} must be [${length}] (${what}), got ${describeValue(x?.shape)}`,
      `${name}.shape`,
    );
  }
  checkFloatData(x.data, length, `${name}.data`);
}

/**
 * Wraps flat data as a head tensor, checking that the length fits the shape.
 * `shape` is in the order the layout names: [batch, seq, heads, dim] for "bshd", [batch, heads, seq, dim] for "bhsd".
 */
export function headsTensor<T extends TensorData>(
  data: T,
  shape: readonly [number, number, number, number],
  layout: Layout,
): HeadsTensor<T> {
  const t: HeadsTensor<T> = { data, shape: [...shape] as [number, number, number, number], layout };
  headsDims(t);
  return t;
}

/** Wraps flat data as an embedding tensor [batch, seq, dim]. */
export function embeddingTensor<T extends TensorData>(
  data: T,
  shape: readonly [number, number, number],
): EmbeddingTensor<T> {
  const t: EmbeddingTensor<T> = { data, shape: [...shape] as [number, number, number] };
  embeddingDims(t);
  return t;
}

/** The shape a head tensor of these sizes has in `layout`. */
export function headsShape(
  layout: Layout,
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
): [number, number, number, number] {
  return layout === "bshd" ? [batch, seq, heads, headDim] : [batch, heads, seq, headDim];
}

/** Copies a head tensor into the other layout (used by tests and by callers that need one layout). */
export function toLayout<T extends TensorData>(x: HeadsTensor<T>, layout: Layout): HeadsTensor<T> {
  const from = headsDims(x);
  if (from.layout === layout) return x;
  const out = new (x.data.constructor as new (n: number) => T)(x.data.length);
  const shape = headsShape(layout, from.batch, from.seq, from.heads, from.headDim);
  const to = headsDims({ data: out, shape, layout });
  for (let b = 0; b < from.batch; b++) {
    for (let s = 0; s < from.seq; s++) {
      for (let h = 0; h < from.heads; h++) {
        const src = b * from.strideBatch + s * from.strideSeq + h * from.strideHead;
        const dst = b * to.strideBatch + s * to.strideSeq + h * to.strideHead;
        out.set(x.data.subarray(src, src + from.headDim), dst);
      }
    }
  }
  return x.dtype === undefined ? { data: out, shape, layout } : { data: out, shape, layout, dtype: x.dtype };
}

/** For backends that compute in f32: the data must be a Float32Array (they write f32). */
export function requireFloat32(data: unknown, name: string, backend: string): Float32Array {
  if (!(data instanceof Float32Array)) {
    throw new RopekitError(
      "INVALID_DTYPE",
      `${name} must be a Float32Array for ${backend} (it computes in f32), got ${describeValue(data)}; use the reference backend for f64`,
      name,
    );
  }
  return data;
}

/**
 * Per row of a head tensor (`data` laid out as `d` says), in bhsd row order ((b·heads + h)·seq + s): the
 * L2 norm in f64 (with `max`: the largest |value|), NaN when the row holds a NaN or ±∞. What an f32 GPU
 * kernel's CPU pass uses to bound scores and values before it trusts the kernel with a row.
 */
export function headRowMeasure(data: ArrayLike<number>, d: HeadsDims, max = false): Float64Array {
  const out = new Float64Array(d.batch * d.heads * d.seq);
  for (let b = 0; b < d.batch; b++) {
    for (let h = 0; h < d.heads; h++) {
      for (let s = 0; s < d.seq; s++) {
        const base = b * d.strideBatch + h * d.strideHead + s * d.strideSeq;
        let acc = 0;
        for (let c = 0; c < d.headDim; c++) {
          const value = data[base + c] as number;
          // Squares of f32 values cannot overflow f64: acc is finite iff every value is.
          acc = max ? Math.max(acc, Math.abs(value)) : acc + value * value;
        }
        out[(b * d.heads + h) * d.seq + s] = Number.isFinite(acc) ? (max ? acc : Math.sqrt(acc)) : Number.NaN;
      }
    }
  }
  return out;
}
