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

  constructor(private readonly heap: Heap) {}

  /** A new zeroed region of `bytes`. */
  create(bytes: number): Region {
    const ptr = this.heap.alloc(bytes);
    this.heap.view().u8.fill(0, ptr, ptr + bytes);
    const region: Region = { ptr, bytes, users: 0, disposed: false };
    this.live.add(region);
    return region;
  }

  /** `length` floats at `ptr` inside `region`, in the current buffer; remembered as the region's. */
  view(region: Region, ptr: number, length: number): Float32Array {
    const view = new Float32Array(this.heap.buffer(), ptr, length);
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
    const start = data.byteOffset;
    const end = start + data.byteLength;
    for (const region of this.live) {
      if (region.ptr <= start && end <= region.ptr + region.bytes) return { region, ptr: start };
    }
    throw disposed(`${name} lies in backend-wasm memory that no live tensor holds (was it disposed?)`, name);
  }

  /** Keeps `region` (and its memory) for the call until `scope` releases. */
  hold(region: Region, scope: CallScope): void {
    region.users++;
    scope.defer(() => {
      region.users--;
      if (region.disposed && region.users === 0) this.heap.release(region.ptr);
    });
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
