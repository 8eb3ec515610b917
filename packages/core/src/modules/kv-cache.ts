import { allocFloat32, allocFloat64, checkElementCount } from "../allocate.js";
import { isHalfDtype, kernelData, tensorDtype } from "../dtype/dtype.js";
import { type HalfDtype, decodeHalf, encodeHalf } from "../dtype/half.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import { requireHostData } from "../resident.js";
import { checkPositiveInteger } from "../rope/spec.js";
import { headsDims } from "../tensor.js";
import type { HeadsTensor, TensorData } from "../types.js";

/** What a KVCache stores keys and values in. */
export type KVCacheDtype = "float32" | "float64" | "float16" | "bfloat16";

const CACHE_DTYPES: readonly KVCacheDtype[] = ["float32", "float64", "float16", "bfloat16"];

/** Options of `KVCache`. */
export interface KVCacheOptions {
  batch: number;
  kvHeads: number;
  headDim: number;
  /** Value head size, default headDim. */
  vHeadDim?: number;
  /** Initial capacity in positions (grows by doubling). Default 256. */
  capacity?: number;
  /**
   * Storage: "float32" (default); "float16" or "bfloat16" — half the memory, keys and values rounded to
   * nearest even as they are appended (a Uint16Array of bits; attention reads them with `dtype`, an f32
   * q gives an f32 output); or "float64" — what the f64 reference backend needs to stay f64.
   */
  dtype?: KVCacheDtype;
  /**
   * Sliding-window layers: the layer's window W. After each step the cache keeps only the last W − 1
   * positions — all the next query can still see, as transformers' sliding-window cache does — so its
   * memory is bounded by W, not by the sequence.
   */
  window?: number;
}

/**
 * Keys (already rotated) and values of the tokens seen so far, layout bhsd with spare capacity: pass
 * `keys`, `values` and `kvLength: length` to attention — no copy per step. Capacity grows by doubling
 * (amortised O(1) per token); a sliding-window cache drops what its window can no longer see.
 */
export class KVCache {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vHeadDim: number;
  readonly dtype: KVCacheDtype;
  /** The window W of a sliding-window layer, or undefined. */
  readonly window: number | undefined;
  private capacity: number;
  private k: TensorData;
  private v: TensorData;
  private filled = 0;
  private dropped = 0;

  constructor(options: KVCacheOptions) {
    if (options === undefined) checkOptions(null, [], "options");
    checkOptions(options, ["batch", "kvHeads", "headDim", "vHeadDim", "capacity", "dtype", "window"]);
    this.batch = checkPositiveInteger(options.batch, "batch");
    this.kvHeads = checkPositiveInteger(options.kvHeads, "kvHeads");
    this.headDim = checkPositiveInteger(options.headDim, "headDim");
    this.vHeadDim = checkPositiveInteger(options.vHeadDim ?? options.headDim, "vHeadDim");
    this.capacity = checkPositiveInteger(options.capacity ?? 256, "capacity");
    const dtype = options.dtype ?? "float32";
    if (!CACHE_DTYPES.includes(dtype)) {
      throw new RopekitError(
        "INVALID_OPTION",
        `dtype must be "float32", "float16", "bfloat16" or "float64", got ${describeValue(dtype)}`,
        "dtype",
      );
    }
    this.dtype = dtype;
    this.window = options.window === undefined ? undefined : checkPositiveInteger(options.window, "window");
    this.k = this.alloc(this.capacity * this.headDim, "KVCache keys");
    this.v = this.alloc(this.capacity * this.vHeadDim, "KVCache values");
  }

  private alloc(perHead: number, what: string): TensorData {
    const n = this.batch * this.kvHeads * perHead;
    if (this.dtype === "float64") return allocFloat64(n, what);
    if (this.dtype === "float32") return allocFloat32(n, what);
    checkElementCount(n, what);
    try {
      return new Uint16Array(n);
    } catch (error) {
      throw new RopekitError(
        "OUT_OF_MEMORY",
        `could not allocate ${2 * n} bytes for ${what}: ${(error as Error).message}`,
        what,
      );
    }
  }

  /** The storage as a tensor: half storage says its dtype (a Uint16Array does not). */
  private tensor(data: TensorData, d: number): HeadsTensor {
    const shape: [number, number, number, number] = [this.batch, this.kvHeads, this.capacity, d];
    return isHalfDtype(this.dtype)
      ? { data, shape, layout: "bhsd", dtype: this.dtype }
      : { data, shape, layout: "bhsd" };
  }

  /** Positions stored now (the keys attention reads). */
  get length(): number {
    return this.filled;
  }

  /** Tokens seen since the start or the last reset: the position of the next token. */
  get position(): number {
    return this.dropped + this.filled;
  }

  /** [batch, kvHeads, capacity, headDim] bhsd; only the first `length` positions are valid. */
  get keys(): HeadsTensor {
    return this.tensor(this.k, this.headDim);
  }

  /** [batch, kvHeads, capacity, vHeadDim] bhsd; only the first `length` positions are valid. */
  get values(): HeadsTensor {
    return this.tensor(this.v, this.vHeadDim);
  }

  /** Bytes of storage now (keys and values, spare capacity included). */
  get byteLength(): number {
    return this.k.byteLength + this.v.byteLength;
  }

  /**
   * Appends n new positions of k and v ([batch, kvHeads, n, d] in either layout, any dtype): converted to
   * the cache's dtype on the way in (rounded to nearest even when that is narrower). Host arrays only:
   * resident tensors (a WebgpuTensor) raise WRONG_BACKEND — keep a resident KV cache with the backend's
   * ops instead.
   */
  append(k: HeadsTensor, v: HeadsTensor): void {
    for (const [t, name] of [
      [k, "k"],
      [v, "v"],
    ] as const) {
      requireHostData(
        t?.data,
        `${name}.data`,
        "KVCache takes host arrays; resident tensors work with the backend's ops (read() them first)",
      );
    }
    const kd = headsDims(k, "k");
    const vd = headsDims(v, "v");
    if (kd.batch !== this.batch || kd.heads !== this.kvHeads || kd.headDim !== this.headDim) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `k must be [batch ${this.batch}, kvHeads ${this.kvHeads}, n, headDim ${this.headDim}], got batch ${kd.batch}, heads ${kd.heads}, headDim ${kd.headDim}`,
        "k.shape",
      );
    }
    if (
      vd.batch !== this.batch ||
      vd.heads !== this.kvHeads ||
      vd.headDim !== this.vHeadDim ||
      vd.seq !== kd.seq
    ) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `v must match k's batch, heads and positions, with head size ${this.vHeadDim}`,
        "v.shape",
      );
    }
    const needed = this.filled + kd.seq;
    if (needed > this.capacity) this.resize(Math.max(needed, this.capacity * 2));
    const kDtype = tensorDtype(k, "k");
    const vDtype = tensorDtype(v, "v");
    const copy = (dst: TensorData, src: HeadsTensor, srcDtype: KVCacheDtype, dims: typeof kd, d: number) => {
      const row = copyRow(srcDtype, this.dtype, d);
      // A Float16Array is read as its bits.
      const data = kernelData(src.data, srcDtype);
      for (let b = 0; b < this.batch; b++) {
        for (let h = 0; h < this.kvHeads; h++) {
          for (let s = 0; s < dims.seq; s++) {
            const from = b * dims.strideBatch + s * dims.strideSeq + h * dims.strideHead;
            const to = ((b * this.kvHeads + h) * this.capacity + this.filled + s) * d;
            row(data, from, dst, to);
          }
        }
      }
    };
    copy(this.k, k, kDtype, kd, this.headDim);
    copy(this.v, v, vDtype, vd, this.vHeadDim);
    this.filled = needed;
  }

  /**
   * For a sliding-window cache, after a step's attention: keep only the last W − 1 positions (every key a
   * later query can still see). Does nothing without a window.
   */
  slide(): void {
    if (this.window === undefined) return;
    const keep = this.window - 1;
    const drop = this.filled - keep;
    if (drop <= 0) return;
    for (const [data, d] of [
      [this.k, this.headDim],
      [this.v, this.vHeadDim],
    ] as const) {
      for (let bh = 0; bh < this.batch * this.kvHeads; bh++) {
        const row = bh * this.capacity * d;
        data.copyWithin(row, row + drop * d, row + this.filled * d);
      }
    }
    this.filled = keep;
    this.dropped += drop;
  }

  /** Forgets every position (keeps the memory). */
  reset(): void {
    this.filled = 0;
    this.dropped = 0;
  }

  private resize(capacity: number): void {
    const move = (old: TensorData, d: number) => {
      const next = this.alloc(capacity * d, "KVCache growth");
      for (let bh = 0; bh < this.batch * this.kvHeads; bh++) {
        next.set(
          old.subarray(bh * this.capacity * d, (bh * this.capacity + this.filled) * d),
          bh * capacity * d,
        );
      }
      return next;
    };
    this.k = move(this.k, this.headDim);
    this.v = move(this.v, this.vHeadDim);
    this.capacity = capacity;
  }
}

/** Copies one row of `d` values from data of `from` to storage of `to`, converting as needed. */
function copyRow(
  from: KVCacheDtype,
  to: KVCacheDtype,
  d: number,
): (src: TensorData, at: number, dst: TensorData, into: number) => void {
  if (from === to || (!isHalfDtype(from) && !isHalfDtype(to))) {
    // Same format (bits copied as they are), or f32 ↔ f64 (set converts).
    return (src, at, dst, into) => dst.set(src.subarray(at, at + d), into);
  }
  if (!isHalfDtype(to)) {
    return (src, at, dst, into) =>
      decodeHalf(src as Uint16Array, from as HalfDtype, dst as Float32Array | Float64Array, at, d, into);
  }
  if (!isHalfDtype(from)) return (src, at, dst, into) => encodeHalf(src, to, dst as Uint16Array, at, d, into);
  // float16 ↔ bfloat16: through exact f64 values.
  const scratch = new Float64Array(d);
  return (src, at, dst, into) => {
    decodeHalf(src as Uint16Array, from, scratch, at, d, 0);
    encodeHalf(scratch, to, dst as Uint16Array, 0, d, into);
  };
}
