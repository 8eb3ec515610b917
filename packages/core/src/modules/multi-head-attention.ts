import type { AttentionMask, AttentionOptions } from "../attention/plan.js";
import type { Backend } from "../backend/contract.js";
import { isHalfDtype, tensorDtype, widenData } from "../dtype/dtype.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import { requireHostData } from "../resident.js";
import { checkPositiveInteger } from "../rope/spec.js";
import { embeddingDims } from "../tensor.js";
import type { EmbeddingTensor, HeadsTensor, RopeSpec, Tensor, TensorData } from "../types.js";
import { KVCache, type KVCacheDtype } from "./kv-cache.js";

/** WRONG_BACKEND's advice for resident tensors given to MultiHeadAttention. */
const HOST_ONLY = "MultiHeadAttention takes host arrays; resident tensors work with the backend's ops";
import { type LayerPositions, hfAttentionMask, layerPositions } from "./layer-inputs.js";

/**
 * Weights in PyTorch `nn.Linear` layout ([outFeatures, inFeatures]). Give q, k, v separately (LLaMA,
 * Qwen2 with biases) or one fused `qkv` (see `qkvLayout`).
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
  /**
   * RMSNorm weight of q before RoPE: [headDim] normalises each head (Qwen3, Gemma-3), [numHeads·headDim]
   * the whole projection (OLMo-2).
   */
  qNorm?: Tensor;
  /** RMSNorm weight of k, like `qNorm` ([headDim] or [numKvHeads·headDim]). */
  kNorm?: Tensor;
  /** One sink logit per query head (GPT-OSS), [numHeads]. */
  sinks?: Tensor;
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
  /** Score scale, default 1/√headDim (Gemma: query_pre_attn_scalar^−½). */
  scale?: number;
  /** Default true (decoder). */
  causal?: boolean;
  /** Sliding window W of this layer; its cache keeps W − 1 positions. */
  window?: number;
  softcap?: number;
  /**
   * How a fused `qkv` weight is laid out: "per-head" (GPT-NeoX: for head h, rows 3hD…3hD+D−1 are q, the
   * next D k, the next D v) or "concatenated" (Phi-3 `qkv_proj`: all q rows, then all k, then all v).
   * Default "per-head".
   */
  qkvLayout?: "per-head" | "concatenated";
  /** eps of the q/k RMSNorms (HF `rms_norm_eps`). Default 1e-6. */
  normEps?: number;
  /** 1 when the q/k norm weights are stored as w − 1 (Gemma): the norms multiply by 1 + w. Default 0. */
  normWeightOffset?: 0 | 1;
  weights: MultiHeadAttentionWeights;
}

/** Options of one forward call. */
export interface ForwardOptions {
  /**
   * Positions of x's tokens: a start offset, `seq` ids shared by every row, `batch·seq` ids, or one array
   * per row (`[batch][seq]`). Default: as HF generation derives them — the cache's position onward, or
   * with an `attentionMask`, the cumulative sum of the mask − 1 (left padding).
   */
  positions?: LayerPositions;
  /** Keys and values of earlier tokens; this call's are appended to it. */
  cache?: KVCache;
  /**
   * HF's 2-D `attention_mask`, [batch][tokens so far] (1 = token, 0 = padding), as nested arrays or one flat
   * array of batch·tokens: covers the cache's tokens and this call's, as transformers passes it in
   * generation.
   */
  attentionMask?: readonly (readonly number[])[] | ArrayLike<number>;
  /** A 4-D attention mask, as for `attention` (instead of or with `attentionMask`). */
  mask?: AttentionMask;
}

/** A weight as f32 values (half bits decoded exactly, f64 rounded). */
function f32(t: Tensor, name: string): Tensor {
  if (t.data instanceof Float32Array) return t;
  return { data: widenData(t.data, tensorDtype(t, name), "float32"), shape: t.shape };
}

/** `data` with `like`'s dtype when that is a half (a Uint16Array needs it said). */
function sameDtype<T extends Tensor>(t: T, like: Tensor): T {
  return like.dtype !== undefined && isHalfDtype(like.dtype) ? { ...t, dtype: like.dtype } : t;
}

/** Splits a fused qkv weight (or bias, cols = 1) into q, k and v. */
function splitFused(
  fused: Tensor,
  layout: "per-head" | "concatenated",
  heads: number,
  kvHeads: number,
  headDim: number,
  cols: number,
): [Tensor, Tensor, Tensor] {
  const rows = (heads + 2 * kvHeads) * headDim;
  if (fused.data.length !== rows * cols) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `a fused qkv ${cols === 1 ? "bias" : "weight"} must have ${rows} rows of ${cols}, got ${fused.data.length} values`,
      cols === 1 ? "weights.qkvBias" : "weights.qkv",
    );
  }
  const shape = (n: number) => (cols === 1 ? [n * headDim] : [n * headDim, cols]);
  const take = (from: number, n: number): Tensor =>
    sameDtype(
      { data: fused.data.slice(from * headDim * cols, (from + n) * headDim * cols), shape: shape(n) },
      fused,
    );
  if (layout === "concatenated")
    return [take(0, heads), take(heads, kvHeads), take(heads + kvHeads, kvHeads)];
  if (heads !== kvHeads) {
    throw new RopekitError(
      "INVALID_OPTION",
      "a per-head fused qkv (GPT-NeoX) needs numKvHeads = numHeads",
      "qkvLayout",
    );
  }
  const part = (which: number): Tensor => {
    const data = new (fused.data.constructor as new (n: number) => TensorData)(heads * headDim * cols);
    for (let h = 0; h < heads; h++) {
      const from = (3 * h + which) * headDim * cols;
      data.set(fused.data.subarray(from, from + headDim * cols), h * headDim * cols);
    }
    return sameDtype({ data, shape: shape(heads) }, fused);
  };
  return [part(0), part(1), part(2)];
}

/**
 * Multi-head attention with RoPE, built from the contract's ops on any backend: q/k/v projections
 * (biases, fused qkv in both layouts), q/k RMSNorm (per head or whole projection), RoPE from a spec
 * (partial rotary; LongRoPE switches with the sequence), GQA, causal and sliding-window attention with
 * soft-cap and sinks, output projection, HF 2-D padding masks, and incremental decoding through a
 * `KVCache` that stores rotated keys. Host arrays only: resident tensors (a WebgpuTensor, as x or as
 * weights) raise WRONG_BACKEND — chain the backend's ops on them instead (its intermediates would
 * otherwise stay on the device).
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
  private readonly sinks: Float64Array | undefined;
  private readonly qNorm: Tensor | undefined;
  private readonly kNorm: Tensor | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly config: MultiHeadAttentionConfig,
  ) {
    checkOptions(
      config,
      [
        "hiddenSize",
        "numHeads",
        "numKvHeads",
        "headDim",
        "rope",
        "scale",
        "causal",
        "window",
        "softcap",
        "qkvLayout",
        "normEps",
        "normWeightOffset",
        "weights",
      ],
      "config",
    );
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
    checkOptions(
      w,
      ["q", "k", "v", "qkv", "o", "qBias", "kBias", "vBias", "qkvBias", "oBias", "qNorm", "kNorm", "sinks"],
      "weights",
    );
    for (const [name, t] of Object.entries(w))
      requireHostData((t as Tensor | undefined)?.data, `weights.${name}.data`, HOST_ONLY);
    // Weights stay in their dtype where the backend takes it (float16/bfloat16 weights keep half the
    // memory; linear accumulates in f32 or wider); otherwise f32 backends get f32 values.
    const dtypes = this.backend.describe().dtypes;
    const keep = (t: Tensor, name = "weights") => (dtypes.includes(tensorDtype(t, name)) ? t : f32(t, name));
    if (w.qkv) {
      const layout = config.qkvLayout ?? "per-head";
      const split = (t: Tensor, cols: number) =>
        splitFused(keep(t), layout, this.numHeads, this.numKvHeads, this.headDim, cols);
      [this.q, this.k, this.v] = split(w.qkv, this.hiddenSize);
      [this.qBias, this.kBias, this.vBias] = w.qkvBias ? split(w.qkvBias, 1) : [];
    } else {
      if (!w.q || !w.k || !w.v)
        throw new RopekitError("INVALID_OPTION", "weights need q, k and v, or a fused qkv", "weights");
      this.q = keep(w.q);
      this.k = keep(w.k);
      this.v = keep(w.v);
      this.qBias = w.qBias && keep(w.qBias);
      this.kBias = w.kBias && keep(w.kBias);
      this.vBias = w.vBias && keep(w.vBias);
    }
    this.o = keep(w.o);
    this.oBias = w.oBias && keep(w.oBias);
    for (const [name, weight, heads] of [
      ["qNorm", w.qNorm, this.numHeads],
      ["kNorm", w.kNorm, this.numKvHeads],
    ] as const) {
      const n = weight?.data.length;
      if (n !== undefined && n !== this.headDim && n !== heads * this.headDim) {
        throw new RopekitError(
          "INVALID_SHAPE",
          `weights.${name} must have ${this.headDim} (per head) or ${heads * this.headDim} (whole projection) values, got ${n}`,
          `weights.${name}`,
        );
      }
    }
    if (w.sinks && w.sinks.data.length !== this.numHeads) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `weights.sinks must have ${this.numHeads} values (one per query head), got ${describeValue(w.sinks.data)}`,
        "weights.sinks",
      );
    }
    this.sinks = w.sinks && widenData(w.sinks.data, tensorDtype(w.sinks, "weights.sinks"), "float64");
    this.qNorm = w.qNorm && keep(w.qNorm, "weights.qNorm");
    this.kNorm = w.kNorm && keep(w.kNorm, "weights.kNorm");
  }

  /**
   * A cache sized for this layer (sliding when the layer has a window; f64 on an f64 backend unless
   * `dtype` says otherwise). `dtype: "float16" | "bfloat16"` halves its memory.
   */
  createCache(batch: number, capacity?: number, dtype?: KVCacheDtype): KVCache {
    const d = this.backend.describe();
    return new KVCache({
      batch,
      kvHeads: this.numKvHeads,
      headDim: this.headDim,
      ...(capacity ? { capacity } : {}),
      ...(this.config.window !== undefined ? { window: this.config.window } : {}),
      dtype: dtype ?? (d.precision === "f64" && d.dtypes.includes("float64") ? "float64" : "float32"),
    });
  }

  /** RMSNorm of a projection [batch, seq, heads·headDim], per head or over its whole width. */
  private async norm(
    t: Tensor,
    weight: Tensor | undefined,
    batch: number,
    seq: number,
    heads: number,
  ): Promise<Tensor> {
    if (!weight) return t;
    const perHead = weight.data.length === this.headDim;
    const shape = perHead ? [batch, seq, heads, this.headDim] : [batch, seq, heads * this.headDim];
    const options = {
      eps: this.config.normEps ?? 1e-6,
      weightOffset: this.config.normWeightOffset ?? 0,
      inPlace: true,
    };
    return this.backend.rmsNorm(sameDtype({ data: t.data, shape }, t), weight, options);
  }

  /** x [batch, seq, hiddenSize] → [batch, seq, hiddenSize]. */
  async forward(x: EmbeddingTensor, options: ForwardOptions = {}): Promise<EmbeddingTensor> {
    checkOptions(options, ["positions", "cache", "attentionMask", "mask"]);
    requireHostData(x?.data, "x.data", HOST_ONLY);
    const [batch, seq, hidden] = embeddingDims(x);
    if (hidden !== this.hiddenSize) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `x has ${hidden} channels, the layer expects ${this.hiddenSize}`,
        "x.shape",
      );
    }
    const { cache } = options;
    const past = cache?.position ?? 0;
    const padding =
      options.attentionMask === undefined
        ? undefined
        : hfAttentionMask(options.attentionMask, batch, past + seq);
    const positions = layerPositions(
      options.positions,
      padding,
      batch,
      seq,
      past,
      this.config.rope?.mropeSection !== undefined,
    );
    const heads = (t: Tensor, n: number): HeadsTensor =>
      sameDtype({ data: t.data, shape: [batch, seq, n, this.headDim], layout: "bshd" }, t);
    // Projections give [batch, seq, heads·headDim] = bshd heads, no copy; norms and RoPE work in place.
    const project = async (w: Tensor, bias: Tensor | undefined, norm: Tensor | undefined, n: number) =>
      heads(await this.norm(await this.backend.linear(x, w, bias), norm, batch, seq, n), n);
    const q = await project(this.q, this.qBias, this.qNorm, this.numHeads);
    const k = await project(this.k, this.kBias, this.kNorm, this.numKvHeads);
    const v = await project(this.v, this.vBias, undefined, this.numKvHeads);
    // LongRoPE and dynamic NTK follow the call's largest position (HF: max(position_ids) + 1); keys already
    // in the cache keep the rotation they got.
    if (this.config.rope)
      await this.backend.applyRopeQK(q, k, this.config.rope, { positions, inPlace: true });
    let keys: HeadsTensor = k;
    let values: HeadsTensor = v;
    if (cache) {
      cache.append(k, v);
      keys = cache.keys;
      values = cache.values;
    }
    const kvLen = cache?.length ?? seq;
    const attentionOptions: AttentionOptions = {
      causal: this.config.causal ?? true,
      ...(this.config.scale !== undefined ? { scale: this.config.scale } : {}),
      ...(this.config.window !== undefined ? { window: this.config.window } : {}),
      ...(this.config.softcap !== undefined ? { softcap: this.config.softcap } : {}),
      ...(this.sinks ? { sinks: this.sinks } : {}),
      ...(cache ? { kvLength: kvLen } : {}),
      ...(options.mask !== undefined ? { mask: options.mask } : {}),
    };
    // The 2-D padding mask becomes a boolean [batch, 1, 1, kvLen] over the keys attention sees (a sliding
    // cache has dropped the oldest ones), combined with the causal and window bounds in the kernel.
    if (padding) {
      if (options.mask !== undefined) {
        throw new RopekitError("INVALID_OPTION", "pass attentionMask or mask, not both", "options.mask");
      }
      const total = past + seq;
      const data = new Uint8Array(batch * kvLen);
      for (let b = 0; b < batch; b++)
        data.set(padding.subarray(b * total + total - kvLen, (b + 1) * total), b * kvLen);
      attentionOptions.mask = { data, shape: [batch, 1, 1, kvLen] };
    }
    const attended = (await this.backend.attention(q, keys, values, attentionOptions)).output;
    cache?.slide();
    // attended is bshd [batch, seq, heads, headDim] = [batch, seq, heads·headDim] rows for the output projection.
    const y = await this.backend.linear(
      sameDtype({ data: attended.data, shape: [batch, seq, this.numHeads * this.headDim] }, attended),
      this.o,
      this.oBias,
    );
    const shape: [number, number, number] = [batch, seq, this.hiddenSize];
    return sameDtype({ data: y.data, shape }, y);
  }
}
