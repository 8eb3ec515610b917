import { RopekitError } from "@ropekit/core";
import type { Heap } from "./heap.js";
import type { CallScope } from "./scope.js";

/** The memory of one resident tensor. */
export interface Region {
  readonly ptr: number;
  readonly bytes: number;
  /** Calls in flight that read or write it. */
  users: number;
  disposed: boolean;
}

/**
 * The resident tensors of a backend. Their memory must never be read or written after `dispose()`:
 * the allocator hands the same addresses to the next tensor. So every view of wasm memory given out is
 * remembered with its tensor, a view of a disposed tensor raises DISPOSED, and a tensor disposed while a
 * call uses it keeps its memory until that call ends.
 */
export class Residents {
  private readonly live = new Set<Region>();
  /** The views handed out, with the tensor each belongs to and its address (kept when detached). */
  private readonly views = new WeakMap<ArrayBufferView, { region: Region; ptr: number }>();
  /** The WasmTensor objects, with their regions. */
  private readonly tensors = new WeakMap<object, Region>();

  constructor(private readonly heap: Heap) {}

  /** A new zeroed region of `bytes`. */
  create(bytes: number): Region {
    const ptr = this.heap.alloc(bytes);
    this.heap.view().u8.fill(0, ptr, ptr + bytes);
    const region: Region = { ptr, bytes, users: 0, disposed: false };
    this.live.add(region);
    return region;
  }

  /** Remembers `tensor` (a WasmTensor) as the owner of `region`. */
  track(tensor: object, region: Region): void {
    this.tensors.set(tensor, region);
  }

  /** `length` floats at `ptr` inside `region`, in the current buffer; remembered as the region's. */
  view(region: Region, ptr: number, length: number): Float32Array {
    const view = new Float32Array(this.heap.buffer(), ptr, length);
    this.views.set(view, { region, ptr });
    return view;
  }

  /** `length` 16-bit elements (float16 / bfloat16 bits) at `ptr` inside `region`, as `view`. */
  halfView(region: Region, ptr: number, length: number): Uint16Array {
    const view = new Uint16Array(this.heap.buffer(), ptr, length);
    this.views.set(view, { region, ptr });
    return view;
  }

  /**
   * Where `data` lies in wasm memory: undefined for an ordinary array; DISPOSED for a view of a disposed
   * tensor, or of wasm memory that no live tensor holds.
   */
  find(data: ArrayBufferView, name: string): { region: Region; ptr: number } | undefined {
    const known = this.views.get(data);
    if (known) {
      if (known.region.disposed)
        throw disposed(`${name} is the data of a disposed backend-wasm tensor`, name);
      return known;
    }
    if (!this.heap.owns(data.buffer)) return undefined;
    // A view made by the caller (a subarray of a tensor's data): accepted inside a live tensor.
    const region = this.containing(data);
    if (region) return { region, ptr: data.byteOffset };
    throw disposed(`${name} lies in backend-wasm memory that no live tensor holds (was it disposed?)`, name);
  }

  /** Keeps `region` (and its memory) for the call until `scope` releases. */
  hold(region: Region, scope: CallScope): void {
    scope.defer(this.retain(region));
  }

  /**
   * Keeps the resident tensors among a call's arguments (tensors, views of them, an options.mask) until
   * the returned function is called: core still reads them after the kernels (the f64 repair of
   * attention rows, the second rotation of fused RoPE). Never throws: checking them is the kernels' job.
   */
  retainArgs(args: readonly unknown[]): () => void {
    const regions = new Set<Region>();
    const visit = (value: unknown) => {
      if (value === null || typeof value !== "object") return;
      const region = this.regionOf(value);
      if (region && !region.disposed) regions.add(region);
    };
    for (const arg of args) {
      visit(arg);
      if (arg !== null && typeof arg === "object") visit(Object.getOwnPropertyDescriptor(arg, "mask")?.value);
    }
    const releases = [...regions].map((r) => this.retain(r));
    return () => {
      for (const release of releases) release();
    };
  }

  /** One more user of `region`, until the returned function is called (once). */
  private retain(region: Region): () => void {
    region.users++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      region.users--;
      if (region.disposed && region.users === 0) this.heap.release(region.ptr);
    };
  }

  /** The region of a WasmTensor, or of a tensor whose own `data` is a view of one (never a getter). */
  private regionOf(value: object): Region | undefined {
    const tracked = this.tensors.get(value);
    if (tracked) return tracked;
    const data = Object.getOwnPropertyDescriptor(value, "data")?.value as unknown;
    if (!ArrayBuffer.isView(data)) return undefined;
    const known = this.views.get(data);
    if (known) return known.region;
    return this.heap.owns(data.buffer) ? this.containing(data) : undefined;
  }

  /** The live tensor a view of wasm memory lies in. */
  private containing(data: ArrayBufferView): Region | undefined {
    const start = data.byteOffset;
    const end = start + data.byteLength;
    for (const region of this.live) {
      if (region.ptr <= start && end <= region.ptr + region.bytes) return region;
    }
    return undefined;
  }

  /** Frees the region now, or when the last call using it ends. */
  dispose(region: Region): void {
    if (region.disposed) return;
    region.disposed = true;
    this.live.delete(region);
    if (region.users === 0) this.heap.release(region.ptr);
  }
}

function disposed(message: string, name: string): RopekitError {
  return new RopekitError("DISPOSED", message, name);
}
