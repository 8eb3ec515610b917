/// <reference types="@webgpu/types" preserve="true" />

/**
 * Scratch, uniform and staging buffers kept for reuse across calls, keyed by size and usage: a call takes
 * one (or creates it) and gives it back when it ends. Reuse is safe on one queue — work submitted later
 * runs after work submitted earlier, and `queue.writeBuffer` is ordered with submissions — so a buffer
 * given back while the GPU still runs the call that used it is only touched by later work. At most
 * `perKey` buffers per key and `maxBytes` in all are kept; `clear()` (the backend's dispose) destroys them.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private bytes = 0;
  /** Buffers handed out from the pool / newly created. */
  readonly counts = { reused: 0, created: 0 };

  constructor(
    private readonly device: () => GPUDevice,
    private readonly maxBytes = 64 * 1024 * 1024,
    private readonly perKey = 8,
  ) {}

  /** A buffer of `size` bytes (a multiple of 4) and `usage`: a kept one, or a new one. */
  take(size: number, usage: number): GPUBuffer {
    const kept = this.free.get(`${size}:${usage}`)?.pop();
    if (kept) {
      this.bytes -= size;
      this.counts.reused++;
      return kept;
    }
    this.counts.created++;
    return this.device().createBuffer({ size, usage });
  }

  /** Gives `buffer` back (unmapped), or destroys it when the pool is full. */
  give(buffer: GPUBuffer): void {
    const key = `${buffer.size}:${buffer.usage}`;
    const list = this.free.get(key) ?? [];
    if (list.length >= this.perKey || this.bytes + buffer.size > this.maxBytes) {
      buffer.destroy();
      return;
    }
    list.push(buffer);
    this.free.set(key, list);
    this.bytes += buffer.size;
  }

  /** Destroys every kept buffer. */
  clear(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.bytes = 0;
  }
}
