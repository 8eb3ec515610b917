import { allocFloat32, allocFloat64 } from "../allocate.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import { checkPositiveInteger } from "../rope/spec.js";
import { headsDims } from "../tensor.js";
import type { FloatArray, HeadsTensor } from "../types.js";

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
   * Storage: "float32" (default), or "float64" — what the f64 reference backend needs to stay f64 once a
   * cache is used.
   */
  dtype?: "float32" | "float64";
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
  readonly dtype: "float32" | "float64";
  /** The window W of a sliding-window layer, or undefined. */
  readonly window: number | undefined;
  private capacity: number;
  private k: FloatArray;
  private v: FloatArray;
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
    if (dtype !== "float32" && dtype !== "float64") {
      throw new RopekitError(
        "INVALID_OPTION",
        `dtype must be "float32" or "float64", got ${describeValue(dtype)}`,
        "dtype",
      );
    }
    this.dtype = dtype;
    this.window = options.window === undefined ? undefined : checkPositiveInteger(options.window, "window");
    this.k = this.alloc(this.capacity * this.headDim, "KVCache keys");
    this.v = this.alloc(this.capacity * this.vHeadDim, "KVCache values");
  }

  private alloc(perHead: number, what: string): FloatArray {
    const n = this.batch * this.kvHeads * perHead;
    return this.dtype === "float64" ? allocFloat64(n, what) : allocFloat32(n, what);
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
    return { data: this.k, shape: [this.batch, this.kvHeads, this.capacity, this.headDim], layout: "bhsd" };
  }

  /** [batch, kvHeads, capacity, vHeadDim] bhsd; only the first `length` positions are valid. */
  get values(): HeadsTensor {
    return { data: this.v, shape: [this.batch, this.kvHeads, this.capacity, this.vHeadDim], layout: "bhsd" };
  }

  /** Appends n new positions of k and v ([batch, kvHeads, n, d] in either layout). */
  append(k: HeadsTensor, v: HeadsTensor): void {
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
    const copy = (dst: FloatArray, src: HeadsTensor, dims: typeof kd, d: number) => {
      for (let b = 0; b < this.batch; b++) {
        for (let h = 0; h < this.kvHeads; h++) {
          for (let s = 0; s < dims.seq; s++) {
            const from = b * dims.strideBatch + s * dims.strideSeq + h * dims.strideHead;
            const to = ((b * this.kvHeads + h) * this.capacity + this.filled + s) * d;
            dst.set(src.data.subarray(from, from + d), to);
          }
        }
      }
    };
    copy(this.k, k, kd, this.headDim);
    copy(this.v, v, vd, this.vHeadDim);
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
    const move = (old: FloatArray, d: number) => {
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
