import { type Layout, RopekitError } from "@ropekit/core";
import type { Heap } from "./heap.js";
import type { Region, Residents } from "./residents.js";

/** What a resident tensor stores: f32 values, or float16 / bfloat16 bits. */
export type WasmDtype = "float32" | "float16" | "bfloat16";

/**
 * A tensor that lives in the backend's wasm memory: ops read and write it in place, with no copy.
 * Read `data` each time you need it — memory growth replaces the underlying buffer — and call
 * `dispose()` to give the memory back. After `dispose()`, `data` and every view taken from it raise
 * DISPOSED in ops; a call already running on the tensor keeps its memory until it ends.
 */
export class WasmTensor<A extends Float32Array | Uint16Array = Float32Array> {
  private view: A | undefined;

  /** @internal Use `WasmBackend.tensor()`. */
  constructor(
    private readonly heap: Heap,
    private readonly residents: Residents,
    private readonly region: Region,
    readonly shape: readonly number[],
    readonly layout: Layout | undefined,
    /** "float32" (data is a Float32Array), or "float16" / "bfloat16" (data is a Uint16Array of bits). */
    readonly dtype: WasmDtype = "float32",
  ) {
    residents.track(this, region);
  }

  /** Byte address in the wasm memory. */
  get ptr(): number {
    return this.region.ptr;
  }

  /** Elements. */
  get length(): number {
    return this.region.bytes / (this.dtype === "float32" ? 4 : 2);
  }

  /**
   * A view of the tensor in the current wasm memory buffer (Float32Array, or Uint16Array for halves). After `dispose()` it raises
   * DISPOSED — once no call that began before the dispose still uses the tensor (such a call reads it
   * to its end; a new op given the view raises DISPOSED all the same).
   */
  get data(): A {
    if (this.region.disposed && this.region.users === 0)
      throw new RopekitError("DISPOSED", "this backend-wasm tensor was disposed", "tensor");
    if (!this.view || this.view.buffer !== this.heap.memory.buffer)
      this.view = (
        this.dtype === "float32"
          ? this.residents.view(this.region, this.region.ptr, this.length)
          : this.residents.halfView(this.region, this.region.ptr, this.length)
      ) as A;
    return this.view;
  }

  /** Frees the tensor's memory (once the calls using it end); using it afterwards raises DISPOSED. */
  dispose(): void {
    this.view = undefined;
    this.residents.dispose(this.region);
  }
}
