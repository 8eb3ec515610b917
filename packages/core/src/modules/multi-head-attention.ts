import type { AttentionMask } from "../attention/plan.js";
import type { Backend } from "../backend/contract.js";
import { RopekitError } from "../errors.js";
import { checkPositiveInteger } from "../rope/spec.js";
import { embeddingDims } from "../tensor.js";
import type { EmbeddingTensor, FloatArray, HeadsTensor, Positions, RopeSpec, Tensor } from "../types.js";
import { KVCache } from "./kv-cache.js";

/**
 * Projection weights in PyTorch `nn.Linear` layout ([outFeatures, inFeatures]). Give q, k, v separately
 * (LLaMA, Qwen2 with biases) or as one fused `qkv` in GPT-NeoX order: for head h, rows 3hD…3hD+D−1 are
 * q, the next D are k, the next D are v.
 */
export interface MultiHeadAttentionWeights {
  q?: Tensor;
  k?: Tensor;
  v?: Tensor;
  qkv?: Tensor;
  o: Tensor;
  qBias?: Tensor;
  kBias?: Tensor;
  vBias?: Tensor;
  qkvBias?: Tensor;
  oBias?: Tensor;
}

/** Configuration of a MultiHeadAttention layer. */
export interface MultiHeadAttentionConfig {
  hiddenSize: number;
  numHeads: number;
  /** GQA/MQA: must divide numHeads. Default numHeads. */
  numKvHeads?: number;
  /** Default hiddenSize / numHeads; numHeads·headDim may differ from hiddenSize (Gemma-2). */
  headDim?: number;
  /** RoPE on q and k (partial rotary via rotaryDim). Omit for no position encoding. */
  rope?: RopeSpec;
  /** Score scale, default 1/√headDim. */
  scale?: number;
  /** Default true (decoder). */
  causal?: boolean;
  window?: number;
  softcap?: number;
  weights: MultiHeadAttentionWeights;
}

/** Options of one forward call. */
export interface ForwardOptions {
  /** Positions of x's tokens. Default: the cache's length (0 without a cache). */
  positions?: Positions;
  /** Keys and values of earlier tokens; this call's are appended to it. */
  cache?: KVCache;
  mask?: AttentionMask;
}

function f32(t: Tensor): Tensor {
  return t.data instanceof Float32Array ? t : { data: Float32Array.from(t.data), shape: t.shape };
}

/** Splits a GPT-NeoX fused qkv weight (or bias) into q, k, v. */
function splitFused(fused: Tensor, heads: number, headDim: number, cols: number): [Tensor, Tensor, Tensor] {
  const part = () => new Float32Array(heads * headDim * cols);
  const [q, k, v] = [part(), part(), part()];
  for (let h = 0; h < heads; h++) {
    for (const [which, dst] of [q, k, v].entries()) {
      const from = (3 * h + which) * headDim * cols;
      dst.set(fused.data.subarray(from, from + headDim * cols), h * headDim * cols);
    }
  }
  const shape = cols === 1 ? [heads * headDim] : [heads * headDim, cols];
  return [
    { data: q, shape },
    { data: k, shape },
    { data: v, shape },
  ];
}

/**
 * Multi-head attention with RoPE, built from the contract's ops on any backend: q/k/v projections
 * (biases, fused qkv), RoPE from a spec (partial rotary), GQA, causal attention, output projection, and
 * incremental decoding through a `KVCache` that stores rotated keys.
 */
export class MultiHeadAttention {
  readonly hiddenSize: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  private readonly q: Tensor;
  private readonly k: Tensor;
  private readonly v: Tensor;
  private readonly o: Tensor;
  private readonly qBias: Tensor | undefined;
  private readonly kBias: Tensor | undefined;
  private readonly vBias: Tensor | undefined;
  private readonly oBias: Tensor | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly config: MultiHeadAttentionConfig,
  ) {
    this.hiddenSize = checkPositiveInteger(config.hiddenSize, "hiddenSize");
    this.numHeads = checkPositiveInteger(config.numHeads, "numHeads");
    this.numKvHeads = checkPositiveInteger(config.numKvHeads ?? config.numHeads, "numKvHeads");
    this.headDim = checkPositiveInteger(config.headDim ?? config.hiddenSize / config.numHeads, "headDim");
    if (this.numHeads % this.numKvHeads !== 0) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `numKvHeads (${this.numKvHeads}) must divide numHeads (${this.numHeads})`,
        "numKvHeads",
      );
    }
    if (config.rope && config.rope.headDim !== this.headDim) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `rope.headDim ${config.rope.headDim} ≠ headDim ${this.headDim}`,
        "rope.headDim",
      );
    }
    const w = config.weights;
    if (w.qkv) {
      if (this.numKvHeads !== this.numHeads) {
        throw new RopekitError(
          "INVALID_OPTION",
          "a fused qkv weight (GPT-NeoX) needs numKvHeads = numHeads",
          "weights.qkv",
        );
      }
      [this.q, this.k, this.v] = splitFused(f32(w.qkv), this.numHeads, this.headDim, this.hiddenSize);
      [this.qBias, this.kBias, this.vBias] = w.qkvBias
        ? splitFused(f32(w.qkvBias), this.numHeads, this.headDim, 1)
        : [];
    } else {
      if (!w.q || !w.k || !w.v) {
        throw new RopekitError("INVALID_OPTION", "weights need q, k and v, or a fused qkv", "weights");
      }
      this.q = f32(w.q);
      this.k = f32(w.k);
      this.v = f32(w.v);
      this.qBias = w.qBias && f32(w.qBias);
      this.kBias = w.kBias && f32(w.kBias);
      this.vBias = w.vBias && f32(w.vBias);
    }
    this.o = f32(w.o);
    this.oBias = w.oBias && f32(w.oBias);
  }

  /** A cache sized for this layer. */
  createCache(batch: number, capacity?: number): KVCache {
    return new KVCache({
      batch,
      kvHeads: this.numKvHeads,
      headDim: this.headDim,
      ...(capacity ? { capacity } : {}),
    });
  }

  /** x [batch, seq, hiddenSize] → [batch, seq, hiddenSize]. */
  async forward(x: EmbeddingTensor, options: ForwardOptions = {}): Promise<EmbeddingTensor> {
    const [batch, seq, hidden] = embeddingDims(x);
    if (hidden !== this.hiddenSize) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `x has ${hidden} channels, the layer expects ${this.hiddenSize}`,
        "x.shape",
      );
    }
    const { cache } = options;
    const heads = (t: Tensor, n: number): HeadsTensor => ({
      data: t.data as FloatArray,
      shape: [batch, seq, n, this.headDim],
      layout: "bshd",
    });
    // Projections produce [batch, seq, heads·headDim] = bshd heads, no copy.
    const q = heads(await this.backend.linear(x, this.q, this.qBias), this.numHeads);
    const k = heads(await this.backend.linear(x, this.k, this.kBias), this.numKvHeads);
    const v = heads(await this.backend.linear(x, this.v, this.vBias), this.numKvHeads);
    if (this.config.rope) {
      await this.backend.applyRopeQK(q, k, this.config.rope, {
        positions: options.positions ?? cache?.length ?? 0,
        inPlace: true,
      });
    }
    const attentionOptions = {
      causal: this.config.causal ?? true,
      ...(this.config.scale !== undefined ? { scale: this.config.scale } : {}),
      ...(this.config.window !== undefined ? { window: this.config.window } : {}),
      ...(this.config.softcap !== undefined ? { softcap: this.config.softcap } : {}),
      ...(options.mask !== undefined ? { mask: options.mask } : {}),
    };
    let attended: HeadsTensor;
    if (cache) {
      cache.append(k, v);
      attended = (
        await this.backend.attention(q, cache.keys, cache.values, {
          ...attentionOptions,
          kvLength: cache.length,
        })
      ).output;
    } else {
      attended = (await this.backend.attention(q, k, v, attentionOptions)).output;
    }
    // attended is bshd [batch, seq, heads, headDim] = [batch, seq, heads·headDim] rows for the output projection.
    const y = await this.backend.linear(
      { data: attended.data, shape: [batch, seq, this.numHeads * this.headDim] },
      this.o,
      this.oBias,
    );
    return { data: y.data, shape: [batch, seq, this.hiddenSize] };
  }
}
