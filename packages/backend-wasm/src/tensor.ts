import { RopekitError, type Layout } from "@ropekit/core";
import type { Heap } from "./heap.js";

/**
 * A tensor that lives in the backend's wasm memory: ops read and write it in place, with no copy.
 * Read `data` each time you need it — memory growth replaces the underlying buffer — and call
 * `dispose()` to give the memory back.
 */
export class WasmTensor {
  private view: Float32Array | undefined;
  private disposed = false;

  /** @internal Use `WasmBackend.tensor()`. */
  constructor(
    private readonly heap: Heap,
    /** Byte address in the wasm memory. */
    readonly ptr: number,
    readonly shape: readonly number[],
    readonly layout: Layout | undefined,
  ) {}

  /** Elements. */
  get length(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** A Float32Array view of the tensor in the current wasm memory buffer. */
  get data(): Float32Array {
    if (this.disposed) throw new RopekitError("DISPOSED", "this backend-wasm tensor was disposed", "tensor");
    const buffer = this.heap.memory.buffer;
    if (!this.view || this.view.buffer !== buffer)
      this.view = new Float32Array(buffer, this.ptr, this.length);
    return this.view;
  }

  /** Frees the tensor's memory; using it afterwards raises DISPOSED. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.view = undefined;
    this.heap.release(this.ptr);
  }
}
