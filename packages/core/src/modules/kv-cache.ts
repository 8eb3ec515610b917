import { allocFloat32 } from "../allocate.js";
import { RopekitError } from "../errors.js";
import { checkOptions } from "../options.js";
import { checkPositiveInteger } from "../rope/spec.js";
import { headsDims } from "../tensor.js";
import type { HeadsTensor } from "../types.js";

/** Options of `KVCache`. */
export interface KVCacheOptions {
  batch: number;
  kvHeads: number;
  headDim: number;
  /** Value head size, default headDim. */
  vHeadDim?: number;
  /** Initial capacity in positions (grows by doubling). Default 256. */
  capacity?: number;
}

/**
 * Keys (already rotated) and values of the tokens seen so far, in f32, layout bhsd with spare capacity:
 * pass `keys`, `values` and `kvLength: length` to attention — no copy per step.
 */
export class KVCache {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vHeadDim: number;
  private capacity: number;
  private k: Float32Array;
  private v: Float32Array;
  private filled = 0;

  constructor(options: KVCacheOptions) {
    if (options === undefined) checkOptions(null, [], "options");
    checkOptions(options, ["batch", "kvHeads", "headDim", "vHeadDim", "capacity"]);
    this.batch = checkPositiveInteger(options.batch, "batch");
    this.kvHeads = checkPositiveInteger(options.kvHeads, "kvHeads");
    this.headDim = checkPositiveInteger(options.headDim, "headDim");
    this.vHeadDim = checkPositiveInteger(options.vHeadDim ?? options.headDim, "vHeadDim");
    this.capacity = checkPositiveInteger(options.capacity ?? 256, "capacity");
    this.k = allocFloat32(this.batch * this.kvHeads * this.capacity * this.headDim, "KVCache keys");
    this.v = allocFloat32(this.batch * this.kvHeads * this.capacity * this.vHeadDim, "KVCache values");
  }

  /** Positions stored so far: the position of the next token. */
  get length(): number {
    return this.filled;
  }

  /** [batch, kvHeads, capacity, headDim] bhsd; only the first `length` positions are valid. */
  get keys(): HeadsTensor<Float32Array> {
    return { data: this.k, shape: [this.batch, this.kvHeads, this.capacity, this.headDim], layout: "bhsd" };
  }

  /** [batch, kvHeads, capacity, vHeadDim] bhsd; only the first `length` positions are valid. */
  get values(): HeadsTensor<Float32Array> {
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
    if (needed > this.capacity) this.grow(Math.max(needed, this.capacity * 2));
    const copy = (dst: Float32Array, src: HeadsTensor, dims: typeof kd, d: number) => {
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

  /** Forgets every position (keeps the memory). */
  reset(): void {
    this.filled = 0;
  }

  private grow(capacity: number): void {
    const move = (old: Float32Array, d: number) => {
      const next = allocFloat32(this.batch * this.kvHeads * capacity * d, "KVCache growth");
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
