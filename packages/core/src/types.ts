/**
 * The vocabulary of ropekit (DESIGN.md §2). Every package speaks these types.
 */

/**
 * Which channels rotate together.
 * - `"half"`: channel j with j + rotaryDim/2 (HF LLaMA `rotate_half`, GPT-NeoX, ggml NEOX).
 * - `"interleaved"`: channel 2i with 2i+1 (RoFormer paper, GPT-J, ggml NORMAL).
 */
export type Pairing = "half" | "interleaved";

/**
 * How a q/k/v tensor is laid out in memory.
 * - `"bshd"`: [batch, seq, heads, headDim] (what a linear projection produces).
 * - `"bhsd"`: [batch, heads, seq, headDim] (what HF transformers feeds attention).
 */
export type Layout = "bshd" | "bhsd";

/** The float arrays ropekit computes with directly (element = value). */
export type FloatArray = Float32Array | Float64Array;

/**
 * How a tensor's numbers are stored:
 * - `"float32"`: a Float32Array;
 * - `"float64"`: a Float64Array (the f64 reference backend);
 * - `"float16"`: IEEE binary16 — a Uint16Array of its bits, or a Float16Array where the runtime has one;
 * - `"bfloat16"`: a Uint16Array of bfloat16 bits (the top half of a float32).
 */
export type Dtype = "float32" | "float16" | "bfloat16" | "float64";

/**
 * A tensor's data: float arrays, or a Uint16Array of float16 / bfloat16 bits (the tensor's `dtype` says
 * which). A Float16Array is accepted at runtime where one exists (read as float16 bits).
 */
export type TensorData = FloatArray | Uint16Array;

/**
 * A dense tensor: flat row-major data plus its shape.
 * Rank-4 head tensors also carry a `layout`; embeddings are rank 3 ([batch, seq, dim]);
 * encoding tables are rank 2 ([positions, dim]).
 */
export interface Tensor<T extends TensorData = TensorData> {
  readonly data: T;
  readonly shape: readonly number[];
  readonly layout?: Layout;
  /**
   * The element type. Optional for Float32Array, Float64Array and Float16Array data (the array says it);
   * required for a Uint16Array ("float16" or "bfloat16"). Must agree with the array.
   */
  readonly dtype?: Dtype;
}

/** A rank-4 tensor of attention heads in one of the two layouts. */
export interface HeadsTensor<T extends TensorData = TensorData> extends Tensor<T> {
  readonly shape: readonly [number, number, number, number];
  readonly layout: Layout;
}

/** A rank-3 embedding tensor [batch, seq, dim]. */
export interface EmbeddingTensor<T extends TensorData = TensorData> extends Tensor<T> {
  readonly shape: readonly [number, number, number];
}

/**
 * The position of each token.
 * - a number: a start offset; token t of every batch row sits at `offset + t` (KV-cache decode);
 * - an array of integers of length seq (shared by every batch row) or batch·seq (one row each,
 *   for packed or non-contiguous sequences).
 */
export type Positions = number | ArrayLike<number>;

/**
 * Multimodal RoPE position ids (Qwen2-VL): three rows — temporal, height, width — each like `Positions`'
 * arrays (seq ids shared by every batch row, or batch·seq). HF's `position_ids` of shape [3, batch, seq].
 */
export type MultimodalPositions = readonly [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];

/** Frequency scaling, as HF `rope_scaling` / `rope_parameters` describe it (fields in camelCase). */
export type RopeScaling =
  | { readonly type: "none" }
  | { readonly type: "linear"; readonly factor: number }
  | {
      readonly type: "dynamic";
      readonly factor: number;
      /** The context length the base was trained for; past it the base grows with the sequence length. */
      readonly maxPositionEmbeddings: number;
    }
  | {
      readonly type: "yarn";
      readonly factor: number;
      readonly originalMaxPositionEmbeddings: number;
      /** Default 32. */
      readonly betaFast: number;
      /** Default 1. */
      readonly betaSlow: number;
      readonly mscale?: number;
      readonly mscaleAllDim?: number;
      /** Explicit magnitude factor; when absent it is derived from factor / mscale / mscaleAllDim. */
      readonly attentionFactor?: number;
      /** Floor/ceil the correction range (HF default true). */
      readonly truncate: boolean;
    }
  | {
      readonly type: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    }
  | {
      readonly type: "longrope";
      /** One factor per frequency (rotaryDim/2), used up to originalMaxPositionEmbeddings. */
      readonly shortFactor: readonly number[];
      /** One factor per frequency, used once the sequence is longer than originalMaxPositionEmbeddings. */
      readonly longFactor: readonly number[];
      readonly originalMaxPositionEmbeddings: number;
      /** Context extension ratio, used only to derive the default attention factor. */
      readonly factor: number;
      readonly attentionFactor?: number;
    };

/** The kind of scaling, e.g. `"yarn"`. */
export type RopeScalingType = RopeScaling["type"];

/** Everything that fixes the rotary frequencies. Build one with `ropeSpec()` or `ropeSpecFromHF()`. */
export interface RopeSpec {
  /** Channels per head. */
  readonly headDim: number;
  /** Channels that rotate: even, ≤ headDim; the rest pass through unchanged. */
  readonly rotaryDim: number;
  /** rope_theta. */
  readonly base: number;
  readonly pairing: Pairing;
  readonly scaling: RopeScaling;
  /**
   * Multimodal RoPE (Qwen2-VL / Qwen2.5-VL `mrope_section`): the frequency pairs split into three
   * consecutive sections (summing to rotaryDim/2); section a rotates by position axis a (temporal, height,
   * width) of `MultimodalPositions`. Absent for ordinary RoPE.
   */
  readonly mropeSection?: readonly [number, number, number];
}

/** What a spec gives for one sequence length: inverse frequencies and the cos/sin magnitude factor. */
export interface RopeFrequencies {
  /** Length rotaryDim/2, in f64: angle of pair i at position p is p · invFreq[i]. */
  readonly invFreq: Float64Array;
  /** YaRN / LongRoPE magnitude factor applied to cos and sin (1 for the other kinds). */
  readonly attentionScale: number;
}

/**
 * cos/sin for a set of positions, computed in f64 and stored in f32 (attentionScale folded in).
 * Row r holds `cos[r·halfDim + i] = attentionScale · cos(position_r · invFreq[i])`.
 * The rows cover either a contiguous range `[start, start + length)` or an explicit list of `ids`.
 */
export interface RopeTable {
  readonly spec: RopeSpec;
  /** rotaryDim / 2. */
  readonly halfDim: number;
  /** Number of rows. */
  readonly length: number;
  /** First position when the rows are a contiguous range, else undefined. */
  readonly start: number | undefined;
  /** The position of each row when the rows are an explicit list, else undefined. */
  readonly ids: Int32Array | undefined;
  /** The sequence length the frequencies were computed for (matters for dynamic and longrope). */
  readonly seqLen: number;
  readonly attentionScale: number;
  readonly cos: Float32Array;
  readonly sin: Float32Array;
}
