import { type Layout, RopekitError } from "@ropekit/core";
import type { GpuResident, WebgpuDtype } from "./residents.js";

/** The host array a resident tensor of dtype `D` reads back as. */
export type HostArrayOf<D extends WebgpuDtype> = D extends "float32" ? Float32Array : Uint16Array;

/**
 * A tensor that lives in a GPU buffer of its backend: give it to ops in place of `{ data, shape, layout }`
 * and they bind the buffer directly — nothing is uploaded — and return their result as a `WebgpuTensor`
 * too, so RoPE → attention → linear chains stay on the GPU until you `read()`. Made by
 * `WebgpuBackend.tensor()` (or returned by an op given one); `dispose()` releases the buffer (a call
 * already using it keeps it until that call ends); `backend.dispose()` releases all of them. Ops given a
 * disposed tensor raise DISPOSED, and any other backend raises WRONG_BACKEND.
 *
 * @example
 * ```ts
 * const q = await backend.tensor({ data: qData, shape: [1, 16, 8, 64], layout: "bshd" });
 * const rotated = await backend.applyRope(q, spec, { positions: 0 }); // a WebgpuTensor
 * const values = await rotated.read(); // Float32Array
 * q.dispose();
 * rotated.dispose();
 * ```
 */
export class WebgpuTensor<D extends WebgpuDtype = WebgpuDtype> {
  /** @internal Use `WebgpuBackend.tensor()`. */
  constructor(
    /** The GPU buffer and what core checks of it (length, dtype): core's `ResidentData`. */
    readonly data: GpuResident,
    /** The shape, as for a host tensor of the same op. */
    readonly shape: readonly number[],
    /** Head tensors' layout; undefined for other tensors. */
    readonly layout: Layout | undefined,
  ) {}

  /** "float32", or "float16" / "bfloat16" (bits, two per 32-bit word in the buffer). */
  get dtype(): D {
    return this.data.dtype as D;
  }

  /** Elements. */
  get length(): number {
    return this.data.length;
  }

  /** True once `dispose()` (or the backend's) was called. */
  get disposed(): boolean {
    return this.data.disposed;
  }

  /**
   * Reads the tensor back: a Float32Array for "float32", a Uint16Array of bits for "float16" /
   * "bfloat16" — a new array the caller owns. DISPOSED after dispose().
   */
  read(): Promise<HostArrayOf<D>> {
    if (this.data.disposed)
      return Promise.reject(new RopekitError("DISPOSED", "this webgpu tensor was disposed", "tensor"));
    return this.data.read() as Promise<HostArrayOf<D>>;
  }

  /** Releases the GPU buffer (once the calls using it end). Calling it twice does nothing. */
  dispose(): void {
    this.data.dispose();
  }
}
