import type { HeadsDims } from "@ropekit/core";
import type { Exec } from "./execution.js";
import type { Heap } from "./heap.js";
import type { Region, Residents } from "./residents.js";
import type { UploadedTables } from "./uploads.js";

/** What an op's marshalling works with: the memory, resident tensors, uploaded tables, where kernels run. */
export interface Env {
  readonly heap: Heap;
  readonly residents: Residents;
  readonly uploads: UploadedTables;
  readonly exec: Exec;
}

/**
 * An input array of a call. One that lives in wasm memory (a resident tensor) is read through a fresh
 * view each time: an allocation may grow the memory, which detaches the old views of a non-shared one.
 */
export interface Input<A extends Float32Array | Uint16Array = Float32Array> {
  /** Byte address in wasm memory, or undefined for an ordinary array. */
  readonly ptr: number | undefined;
  /** The resident tensor it lies in. */
  readonly region: Region | undefined;
  /** Elements. */
  readonly length: number;
  /** Bytes per element: 4 (f32) or 2 (float16 / bfloat16 bits). */
  readonly bytes: 2 | 4;
  read(): A;
}

/** A head tensor in wasm memory: its address and element strides. */
export interface Placed {
  readonly ptr: number;
  readonly strideBatch: number;
  readonly strideSeq: number;
  readonly strideHead: number;
}

/**
 * What one call holds: its blocks of wasm memory and its holds on shared things (uploaded tables,
 * resident tensors). All are given back when the call ends — kernels done and results copied out —
 * even when it throws, never earlier: queued kernels still read them.
 */
export class CallScope {
  private readonly blocks: number[] = [];
  private readonly onRelease: (() => void)[] = [];
  constructor(
    private readonly heap: Heap,
    private readonly residents: Residents,
  ) {}

  alloc(bytes: number): number {
    const ptr = this.heap.alloc(bytes);
    this.blocks.push(ptr);
    return ptr;
  }
  /** A copy of `values` as f32 (f64 values are rounded). */
  f32(values: ArrayLike<number>): number {
    const ptr = this.alloc(values.length * 4);
    this.heap.view().f32.set(values, ptr >>> 2);
    return ptr;
  }
  i32(values: ArrayLike<number>): number {
    const ptr = this.alloc(values.length * 4);
    this.heap.view().i32.set(values, ptr >>> 2);
    return ptr;
  }
  u8(values: Uint8Array): number {
    const ptr = this.alloc(values.length);
    this.heap.view().u8.set(values, ptr);
    return ptr;
  }

  /**
   * An input array, held for the call if it is a resident tensor's (so a dispose() during the call
   * cannot free it); DISPOSED for a view of a disposed tensor.
   */
  input<A extends Float32Array | Uint16Array>(data: A, name: string): Input<A> {
    const found = this.residents.find(data, name);
    const length = data.length;
    const bytes = data.BYTES_PER_ELEMENT as 2 | 4;
    if (!found) return { ptr: undefined, region: undefined, length, bytes, read: () => data };
    this.residents.hold(found.region, this);
    const { ptr, region } = found;
    const Type = (bytes === 4 ? Float32Array : Uint16Array) as unknown as new (
      buffer: ArrayBufferLike,
      offset: number,
      length: number,
    ) => A;
    return { ptr, region, length, bytes, read: () => new Type(this.heap.buffer(), ptr, length) };
  }
  /** A small input read once on the host (mask): copied out of wasm memory if it lies there. */
  hostCopy<A extends Float32Array | Float64Array | Uint8Array>(data: A, name: string): A {
    return this.residents.find(data, name) ? (data.slice() as A) : data;
  }
  /** A copy of an input (read after the allocation, so a resident one is read from the grown memory). */
  copy(input: Input<Float32Array | Uint16Array>): number {
    const size = input.length * input.bytes;
    const ptr = this.alloc(size);
    if (input.ptr !== undefined) this.heap.view().u8.copyWithin(ptr, input.ptr, input.ptr + size);
    else this.heap.view().u8.set(bytesOf(input.read()), ptr);
    return ptr;
  }
  /** An input's address in wasm memory: where it lies if resident, else a copy's. */
  place(input: Input<Float32Array | Uint16Array>): number {
    return input.ptr ?? this.copy(input);
  }

  /**
   * A head tensor as the attention kernel reads it: a resident one where it lies, any other copied in
   * as bhsd (each head's rows contiguous, the order the kernel streams keys in).
   */
  heads(d: HeadsDims, input: Input<Float32Array | Uint16Array>): Placed {
    if (input.ptr !== undefined) return { ...d, ptr: input.ptr };
    const n = d.batch * d.heads * d.seq * d.headDim;
    const ptr = this.alloc(n * input.bytes);
    const data = input.read();
    const buffer = this.heap.buffer();
    // A view of the element type: f32 values or half bits, copied as they are.
    const to = input.bytes === 4 ? new Float32Array(buffer) : new Uint16Array(buffer);
    const base = ptr / input.bytes;
    if (d.layout === "bhsd") to.set(data, base);
    else {
      for (let b = 0; b < d.batch; b++) {
        for (let h = 0; h < d.heads; h++) {
          for (let s = 0; s < d.seq; s++) {
            const from = b * d.strideBatch + s * d.strideSeq + h * d.strideHead;
            to.set(data.subarray(from, from + d.headDim), base + ((b * d.heads + h) * d.seq + s) * d.headDim);
          }
        }
      }
    }
    return {
      ptr,
      strideBatch: d.heads * d.seq * d.headDim,
      strideSeq: d.headDim,
      strideHead: d.seq * d.headDim,
    };
  }

  /** Runs `fn` when the call ends (after its blocks are freed). */
  defer(fn: () => void): void {
    this.onRelease.push(fn);
  }

  release(): void {
    for (const ptr of this.blocks) this.heap.release(ptr);
    this.blocks.length = 0;
    const fns = this.onRelease.splice(0);
    for (const fn of fns) fn();
  }
}

/** A kernel's result: a value when it ran on this thread, a promise when workers took part. */
export type MaybePromise<T> = T | Promise<T>;

/** A call once staged: its result, when its kernels are done (undefined: already), what to copy out then. */
export interface Staged<T> {
  readonly result: T;
  readonly done: Promise<void> | undefined;
  readonly copyOut?: (() => void) | undefined;
}

/**
 * Runs one kernel call in a fresh scope: `stage` allocates, copies in and starts the kernels. The scope
 * is released once they are done and the results copied out, or at once when staging throws. The result
 * comes back as a value when everything ran on this thread, else as a promise.
 */
export function inScope<T>(env: Env, stage: (scope: CallScope) => Staged<T>): MaybePromise<T> {
  const scope = new CallScope(env.heap, env.residents);
  let staged: Staged<T>;
  try {
    staged = stage(scope);
  } catch (error) {
    scope.release();
    throw error;
  }
  const { result, done, copyOut } = staged;
  const end = (): T => {
    try {
      copyOut?.();
    } finally {
      scope.release();
    }
    return result;
  };
  if (done === undefined) return end();
  return done.then(end, (error: unknown) => {
    scope.release();
    throw error;
  });
}

/** The bytes of a typed array (a view, no copy). */
function bytesOf(data: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
