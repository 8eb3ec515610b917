import { type HeadsTensor, headsDims, headsShape } from "@ropekit/core";
import type { Heap } from "./heap.js";
import type { Region } from "./residents.js";

/**
 * An input array of a call. One that lives in wasm memory (a resident tensor) is read through a fresh
 * view each time: an allocation may grow the memory, which detaches the old views of a non-shared one.
 */
export interface Input {
  /** Byte address in wasm memory, or undefined for an ordinary array. */
  readonly ptr: number | undefined;
  /** The resident tensor it lies in. */
  readonly region: Region | undefined;
  readonly length: number;
  read(): Float32Array;
}

/** A head tensor copied in as bhsd: its address, its element strides, and a view of the copy. */
export interface PlacedHeads {
  readonly ptr: number;
  readonly strideBatch: number;
  readonly strideSeq: number;
  readonly strideHead: number;
  /** A view of the copy (made now: growth replaces the memory buffer). */
  view(): HeadsTensor;
}

/**
 * What one call holds: its blocks of wasm memory and its holds on shared things (uploaded tables,
 * resident tensors). All are given back when the call ends — kernels done and results copied out —
 * even when it throws, never earlier: queued kernels still read them.
 */
export class CallScope {
  private readonly blocks: number[] = [];
  private readonly onRelease: (() => void)[] = [];
  constructor(private readonly heap: Heap) {}

  alloc(bytes: number): number {
    const ptr = this.heap.alloc(bytes);
    this.blocks.push(ptr);
    return ptr;
  }
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
  /** A copy of an input (read after the allocation, so a resident one is read from the grown memory). */
  copy(input: Input): number {
    const ptr = this.alloc(input.length * 4);
    if (input.ptr !== undefined) this.heap.view().u8.copyWithin(ptr, input.ptr, input.ptr + input.length * 4);
    else this.heap.view().f32.set(input.read(), ptr >>> 2);
    return ptr;
  }

  /**
   * Copies a head tensor in as bhsd (each head's rows contiguous, the order the attention kernel
   * streams keys in), whatever its layout. `x` gives the shape and layout, `input` the values.
   */
  heads(x: HeadsTensor, input: Input): PlacedHeads {
    const d = headsDims(x);
    const n = d.batch * d.heads * d.seq * d.headDim;
    const ptr = this.alloc(n * 4);
    const f32 = this.heap.view().f32;
    const data = input.read();
    const base = ptr >>> 2;
    if (d.layout === "bhsd") f32.set(data, base);
    else {
      for (let b = 0; b < d.batch; b++) {
        for (let h = 0; h < d.heads; h++) {
          for (let s = 0; s < d.seq; s++) {
            const from = b * d.strideBatch + s * d.strideSeq + h * d.strideHead;
            f32.set(
              data.subarray(from, from + d.headDim),
              base + ((b * d.heads + h) * d.seq + s) * d.headDim,
            );
          }
        }
      }
    }
    const shape = headsShape("bhsd", d.batch, d.seq, d.heads, d.headDim);
    return {
      ptr,
      strideBatch: d.heads * d.seq * d.headDim,
      strideSeq: d.headDim,
      strideHead: d.seq * d.headDim,
      view: () => ({ data: this.heap.f32At(ptr, n), shape, layout: "bhsd" }),
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

/** [start, end) ranges splitting n items into at most `parts` non-empty pieces. */
export function split(n: number, parts: number): [number, number][] {
  const count = Math.max(1, Math.min(parts, n));
  return Array.from({ length: count }, (_, i) => [
    Math.floor((i * n) / count),
    Math.floor(((i + 1) * n) / count),
  ]);
}
