import { RopekitError } from "@ropekit/core";

const PAGE = 65536;
/** wasm32: 65 536 pages of 64 KiB. */
export const MAX_PAGES = 65536;
const ALIGN = 16;

/**
 * A first-fit allocator over the wasm memory, owned by the host: kernels never allocate. Freed blocks
 * are coalesced; the memory grows (and never shrinks) when nothing fits; past `maxPages` it raises
 * OUT_OF_MEMORY.
 */
export class Heap {
  /** Free blocks sorted by address. */
  private free: { ptr: number; size: number }[] = [];
  private readonly used = new Map<number, number>();
  private liveBytes = 0;
  private views: { buffer: ArrayBufferLike; f32: Float32Array; i32: Int32Array; u8: Uint8Array } | undefined;
  /** Every buffer object this memory has shown (a shared memory shows a new one after each growth). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
    private readonly maxPages: number,
  ) {
    this.buffers.add(memory.buffer);
    const start = Math.ceil(base / ALIGN) * ALIGN;
    this.free.push({ ptr: start, size: memory.buffer.byteLength - start });
  }

  /** Bytes handed out and not yet freed. */
  get allocatedBytes(): number {
    return this.liveBytes;
  }

  /** Current size of the memory in bytes. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** The memory's current buffer (remembered, so `owns` knows views made from it). */
  buffer(): ArrayBufferLike {
    const buffer = this.memory.buffer;
    this.buffers.add(buffer);
    return buffer;
  }

  /** Is `buffer` this memory's, now or before a growth? */
  owns(buffer: ArrayBufferLike): boolean {
    return this.buffers.has(buffer);
  }

  /** Float32 / Int32 / Uint8 views of the whole memory, renewed after growth. */
  view(): { f32: Float32Array; i32: Int32Array; u8: Uint8Array } {
    const buffer = this.buffer();
    if (!this.views || this.views.buffer !== buffer) {
      this.views = {
        buffer,
        f32: new Float32Array(buffer),
        i32: new Int32Array(buffer),
        u8: new Uint8Array(buffer),
      };
    }
    return this.views;
  }

  /** A 16-byte aligned block of at least `bytes`. */
  alloc(bytes: number): number {
    if (!(bytes <= MAX_PAGES * PAGE)) {
      throw new RopekitError(
        "TOO_LARGE",
        `backend-wasm cannot hold ${bytes} bytes in one block: wasm32 memory ends at 4 GiB`,
        "memory",
      );
    }
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let index = this.free.findIndex((b) => b.size >= size);
    if (index < 0) {
      this.grow(size);
      index = this.free.findIndex((b) => b.size >= size);
    }
    const block = this.free[index] as { ptr: number; size: number };
    const ptr = block.ptr;
    if (block.size === size) this.free.splice(index, 1);
    else {
      block.ptr += size;
      block.size -= size;
    }
    this.used.set(ptr, size);
    this.liveBytes += size;
    return ptr;
  }

  /** `length` floats at byte address `ptr`, in the current buffer. */
  f32At(ptr: number, length: number): Float32Array {
    return this.view().f32.subarray(ptr >>> 2, (ptr >>> 2) + length);
  }

  /** Returns a block to the free list (coalescing with its neighbours). */
  release(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) return;
    this.used.delete(ptr);
    this.liveBytes -= size;
    let i = 0;
    while (i < this.free.length && (this.free[i] as { ptr: number }).ptr < ptr) i++;
    this.free.splice(i, 0, { ptr, size });
    const next = this.free[i + 1];
    const cur = this.free[i] as { ptr: number; size: number };
    if (next && cur.ptr + cur.size === next.ptr) {
      cur.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.ptr + prev.size === cur.ptr) {
      prev.size += cur.size;
      this.free.splice(i, 1);
    }
  }

  private grow(size: number): void {
    const current = this.memory.buffer.byteLength;
    const last = this.free[this.free.length - 1];
    const tailFree = last && last.ptr + last.size === current ? last.size : 0;
    const pages = Math.max(Math.ceil((size - tailFree) / PAGE), Math.ceil(current / PAGE / 2));
    const target = Math.min(current / PAGE + pages, this.maxPages);
    if (target * PAGE - current + tailFree < size) {
      throw new RopekitError(
        "OUT_OF_MEMORY",
        `backend-wasm needs ${size} more bytes but its memory cannot grow past ${(this.maxPages * PAGE) / 2 ** 30} GiB (wasm32); ${this.liveBytes} bytes are in use`,
        "memory",
      );
    }
    try {
      this.memory.grow(target - current / PAGE);
    } catch (error) {
      throw new RopekitError(
        "OUT_OF_MEMORY",
        `backend-wasm could not grow its memory to ${target * PAGE} bytes: ${String(error)}`,
        "memory",
      );
    }
    if (tailFree > 0) (last as { size: number }).size += target * PAGE - current;
    else this.free.push({ ptr: current, size: target * PAGE - current });
  }
}
