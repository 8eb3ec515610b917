/// <reference types="@webgpu/types" preserve="true" />
import { type Dtype, type ResidentData, RopekitError, type TensorData, describeValue } from "@ropekit/core";
import type { GpuContext } from "./context.js";
import type { WebgpuTensor } from "./tensor.js";

/** WebGPU buffer usage flags (Dawn's Node binding defines no GPUBufferUsage global). */
const STORAGE_USAGE = 128 | 4 | 8; // STORAGE | COPY_SRC | COPY_DST

/** The dtypes a resident tensor may hold. */
export type WebgpuDtype = "float32" | "float16" | "bfloat16";

/** Bytes of one element of `dtype`. */
function elementBytes(dtype: WebgpuDtype): number {
  return dtype === "float32" ? 4 : 2;
}

/** The buffer size for `bytes`: WebGPU binds 4-byte multiples, and at least 16 bytes. */
export function bufferSize(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 4) * 4);
}

/**
 * Raises INVALID_DTYPE unless `values` can be stored as `dtype` without reinterpreting them: half bits in a
 * Uint16Array for float16/bfloat16; a Float32Array (or a Float64Array, rounded) for float32.
 */
function checkValues(dtype: WebgpuDtype, values: TensorData, what: string): void {
  const fits =
    dtype === "float32"
      ? values instanceof Float32Array || values instanceof Float64Array
      : values instanceof Uint16Array;
  if (!fits) {
    throw new RopekitError(
      "INVALID_DTYPE",
      `${what} got ${describeValue(values)} for a ${dtype} tensor: ${dtype === "float32" ? "pass a Float32Array" : "pass a Uint16Array of its bits"}`,
      "data",
    );
  }
}

/** What the resident store has done: the readbacks tests and users can count. */
export interface WebgpuStats {
  /** Buffers mapped and read back to the host, by any op or read(). */
  readbacks: number;
  /** Bytes read back to the host. */
  readbackBytes: number;
  /** Resident tensors read back whole (read(), core's host steps, ops that fall back to the CPU). */
  tensorReads: number;
  /** Scratch, parameter and staging buffers a call took from the pool instead of creating them. */
  buffersReused: number;
  /** Scratch, parameter and staging buffers created (the pool had none of that size). */
  buffersCreated: number;
}

/**
 * The data of a resident tensor: one GPU storage buffer (f32 values, or float16 / bfloat16 bits packed two
 * to a 32-bit word) that ops bind directly. It is what core's `ResidentData` describes: core checks its
 * length and dtype and hands it to this backend's kernels unchanged. Calls in flight hold it (`users`):
 * disposing it then destroys the buffer when the last of them ends.
 */
export class GpuResident implements ResidentData {
  /** The backend that holds the data. */
  readonly residentOn = "webgpu";
  /** Calls in flight that use the buffer. */
  users = 0;
  /** Set by dispose(): new calls raise DISPOSED. */
  disposed = false;
  /** The WebgpuTensor users hold for this data (the first made for it). */
  tensor: WebgpuTensor | undefined;

  /** @internal Made by `Residents.create`. */
  constructor(
    /** @internal The store that made it (and destroys its buffer). */
    readonly store: Residents,
    /** The storage buffer. */
    readonly buffer: GPUBuffer,
    /** How the elements are stored. */
    readonly dtype: WebgpuDtype,
    /** Elements. */
    readonly length: number,
  ) {}

  /** Bytes of the elements (the buffer may be padded past them). */
  get bytes(): number {
    return this.length * elementBytes(this.dtype);
  }

  /** A host copy: a Float32Array, or a Uint16Array of bits for halves. */
  read(): Promise<TensorData> {
    return this.store.read(this);
  }

  /** Overwrites the elements with `data` (same length; f32 values or half bits as the dtype says). */
  write(data: TensorData): Promise<void> {
    return this.store.write(this, data);
  }

  /** Releases the buffer (once the calls using it end). */
  dispose(): void {
    this.store.dispose(this);
  }
}

/**
 * The resident buffers of one backend: made, read, written, held by calls, disposed; `disposeAll()`
 * destroys every one (the backend's dispose). Reads and writes go through the context's jobs, so
 * validation errors, out-of-memory and device loss surface as RopekitErrors there too.
 */
export class Residents {
  private readonly live = new Set<GpuResident>();
  constructor(private readonly ctx: GpuContext) {}

  /** Readback counters (see `WebgpuStats`), kept by the context. */
  get stats(): GpuContext["stats"] {
    return this.ctx.stats;
  }

  /** True for resident data this store made and has not released. */
  owns(data: unknown): data is GpuResident {
    return data instanceof GpuResident && this.live.has(data);
  }

  /**
   * True for data of this store that a call may use: live, or disposed while a call that began before
   * holds it. Raises DISPOSED for disposed data no call holds.
   */
  check(data: unknown, name: string): boolean {
    if (!(data instanceof GpuResident)) return false;
    if (data.disposed && data.users === 0)
      throw new RopekitError("DISPOSED", `${name} is a disposed webgpu tensor`, name);
    return this.live.has(data);
  }

  /**
   * A new resident buffer of `length` elements: `data` uploaded into it, or zeros. TOO_LARGE past the
   * device's binding limit.
   */
  create(dtype: WebgpuDtype, length: number, data?: TensorData): GpuResident {
    this.ctx.checkAlive();
    const bytes = length * elementBytes(dtype);
    this.ctx.checkSize(bytes, "tensor");
    if (data !== undefined) checkValues(dtype, data, "tensor()");
    const buffer = this.ctx.device.createBuffer({
      size: bufferSize(bytes),
      usage: STORAGE_USAGE,
      mappedAtCreation: data !== undefined,
    });
    if (data !== undefined) {
      const range = buffer.getMappedRange();
      if (dtype === "float32") new Float32Array(range, 0, length).set(data);
      else new Uint16Array(range, 0, length).set(data);
      buffer.unmap();
    }
    const resident = new GpuResident(this, buffer, dtype, length);
    this.live.add(resident);
    return resident;
  }

  /**
   * `create` between error scopes: out-of-memory and validation errors of the new buffer come back as
   * RopekitErrors (OUT_OF_MEMORY, BACKEND_UNAVAILABLE) instead of being logged by the device.
   */
  async make(dtype: WebgpuDtype, length: number, data?: TensorData): Promise<GpuResident> {
    this.ctx.checkAlive();
    let made: GpuResident | undefined;
    await this.ctx
      .run(() => {
        made = this.create(dtype, length, data);
      })
      .catch((error: unknown) => {
        made?.dispose();
        throw error;
      });
    return made as unknown as GpuResident;
  }

  /**
   * One more call using `data` until the returned function runs (once). Data of another store is
   * retained by that store, so its buffer is destroyed there if it is disposed meanwhile.
   */
  retain(data: GpuResident): () => void {
    if (data.store !== this) return data.store.retain(data);
    data.users++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      data.users--;
      if (data.disposed && data.users === 0) this.destroy(data);
    };
  }

  /** Reads `data` back (counted as a tensor read). */
  async read(data: GpuResident): Promise<TensorData> {
    this.check(data, "tensor");
    const release = this.retain(data);
    try {
      const [words] = await this.ctx.run((job) => job.read(data.buffer, Math.ceil(data.bytes / 4)));
      this.stats.tensorReads++;
      const bytes = (words as Float32Array).buffer;
      return data.dtype === "float32"
        ? new Float32Array(bytes, 0, data.length)
        : new Uint16Array(bytes, 0, data.length);
    } finally {
      release();
    }
  }

  /**
   * Writes `values` into `data`'s buffer (queued: calls submitted after it see the new values). Values of
   * another dtype (a Float32Array into a half tensor) raise INVALID_DTYPE.
   */
  async write(data: GpuResident, values: TensorData): Promise<void> {
    this.check(data, "tensor");
    checkValues(data.dtype, values, "write()");
    if (values.length !== data.length) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `write() got ${values.length} elements for a tensor of ${data.length}`,
        "data",
      );
    }
    const bytes = new Uint8Array(bufferSize(data.bytes));
    if (data.dtype === "float32") new Float32Array(bytes.buffer, 0, data.length).set(values);
    else new Uint16Array(bytes.buffer, 0, data.length).set(values);
    const release = this.retain(data);
    try {
      await this.ctx.run(() => this.ctx.device.queue.writeBuffer(data.buffer, 0, bytes));
    } finally {
      release();
    }
  }

  /** Marks `data` disposed; its buffer goes now, or when the last call using it ends. Twice is a no-op. */
  dispose(data: GpuResident): void {
    if (data.disposed) return;
    data.disposed = true;
    if (data.users === 0) this.destroy(data);
  }

  /** Destroys every resident buffer (the backend's dispose). */
  disposeAll(): void {
    for (const data of [...this.live]) {
      data.disposed = true;
      this.destroy(data);
    }
  }

  private destroy(data: GpuResident): void {
    if (!this.live.delete(data)) return;
    try {
      data.buffer.destroy();
    } catch {
      // The device is gone: so is the buffer.
    }
  }
}

/** The dtype of resident data of `dtype`, or undefined for one a resident tensor cannot hold. */
export function webgpuDtype(dtype: Dtype): WebgpuDtype | undefined {
  return dtype === "float32" || dtype === "float16" || dtype === "bfloat16" ? dtype : undefined;
}
