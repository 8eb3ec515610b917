import type { AddLearnedOptions } from "../absolute/learned.js";
import type { AddSinusoidalOptions } from "../absolute/sinusoidal.js";
import type { AttentionOptions, AttentionResult } from "../attention/plan.js";
import type { DimsTensor, HeadsTensorLike, InteropOptions, TensorLike } from "../interop.js";
import type { RmsNormOptions } from "../norm/rms-norm.js";
import type { ApplyRopeOptions, RopeInput } from "../rope/apply.js";
import type { RopeTableOptions, TablePositions } from "../rope/table.js";
import type {
  Dtype,
  EmbeddingTensor,
  TensorData,
  HeadsTensor,
  Layout,
  Pairing,
  RopeSpec,
  RopeTable,
  Tensor,
} from "../types.js";

/** The ops of the contract. */
export type OpName =
  | "ropeTable"
  | "applyRope"
  | "applyRopeQK"
  | "sinusoidal"
  | "addSinusoidal"
  | "addLearned"
  | "attention"
  | "linear"
  | "rmsNorm";

/** Every op, in contract order. */
export const OP_NAMES: readonly OpName[] = [
  "ropeTable",
  "applyRope",
  "applyRopeQK",
  "sinusoidal",
  "addSinusoidal",
  "addLearned",
  "attention",
  "linear",
  "rmsNorm",
];

/** What a complete backend supports: every op, both pairings, both layouts (spread into `describe()`). */
export const EVERY_OP_AND_LAYOUT = {
  ops: OP_NAMES,
  pairings: ["half", "interleaved"],
  layouts: ["bshd", "bhsd"],
} as const satisfies Pick<BackendDescription, "ops" | "pairings" | "layouts">;

/** How a tensor's numbers are stored (re-exported here: `describe().dtypes` lists them). */
export type { Dtype } from "../types.js";

/** What a backend can do and how it really runs — what `pickBackend()` reports to the user. */
export interface BackendDescription {
  readonly name: string;
  /** The mode that really runs, e.g. "js-f32", "reference-f64", "wasm-simd", "webgl2 (SwiftShader)". */
  readonly mode: string;
  /** Precision of the arithmetic. */
  readonly precision: "f32" | "f64";
  /** The element types it accepts for q/k/x data. */
  readonly dtypes: readonly Dtype[];
  readonly ops: readonly OpName[];
  readonly pairings: readonly Pairing[];
  readonly layouts: readonly Layout[];
  /** Threads it computes on. */
  readonly threads: number;
  /** Anything a user should know about this mode (fallbacks, software rasterisers). */
  readonly notes?: string;
}

/** The result of applying RoPE to q and k in one call. */
export interface RopeQK<T extends TensorData = TensorData> {
  readonly q: HeadsTensor<T>;
  readonly k: HeadsTensor<T>;
}

/**
 * The ops as `defineBackend` plans them: every tensor already a ropekit tensor (`{ data, shape }`, head
 * tensors with their layout), after core's interop has read tensors from other libraries.
 */
export interface CheckedOps {
  /** See `Backend.ropeTable`. */
  ropeTable(spec: RopeSpec, positions: TablePositions, options?: RopeTableOptions): RopeTable;
  /** See `Backend.applyRope`. */
  applyRope(x: HeadsTensor, rope: RopeInput, options?: ApplyRopeOptions): HeadsTensor;
  /** See `Backend.applyRopeQK`. */
  applyRopeQK(q: HeadsTensor, k: HeadsTensor, rope: RopeInput, options?: ApplyRopeOptions): RopeQK;
  /** See `Backend.sinusoidal`. */
  sinusoidal(positions: TablePositions, dim: number, base?: number): Tensor;
  /** See `Backend.addSinusoidal`. */
  addSinusoidal(x: EmbeddingTensor, options?: AddSinusoidalOptions): EmbeddingTensor;
  /** See `Backend.addLearned`. */
  addLearned(x: EmbeddingTensor, table: Tensor, options?: AddLearnedOptions): EmbeddingTensor;
  /** See `Backend.attention`. */
  attention(q: HeadsTensor, k: HeadsTensor, v: HeadsTensor, options?: AttentionOptions): AttentionResult;
  /** See `Backend.linear`. */
  linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor;
  /** See `Backend.rmsNorm`. */
  rmsNorm(x: Tensor, weight?: Tensor, options?: RmsNormOptions): Tensor;
}

/** applyRope's options at the boundary: its own, and the layout of head tensors that carry none. */
export type RopeCallOptions = ApplyRopeOptions & InteropOptions;

/** attention's options at the boundary: its own, a layout for head tensors, a mask as `{ data, dims }` too. */
export type AttentionCallOptions = Omit<AttentionOptions, "mask"> &
  InteropOptions & { mask?: AttentionOptions["mask"] | DimsTensor };

/**
 * The ops with synchronous signatures; a backend that computes on the calling thread may offer them.
 * Tensors may come from other libraries (`TensorLike`, `HeadsTensorLike`: onnxruntime, transformers.js).
 */
export interface SyncOps {
  /** See `Backend.ropeTable`. */
  ropeTable(spec: RopeSpec, positions: TablePositions, options?: RopeTableOptions): RopeTable;
  /** See `Backend.applyRope`. */
  applyRope(x: HeadsTensorLike, rope: RopeInput, options?: RopeCallOptions): HeadsTensor;
  /** See `Backend.applyRopeQK`. */
  applyRopeQK(q: HeadsTensorLike, k: HeadsTensorLike, rope: RopeInput, options?: RopeCallOptions): RopeQK;
  /** See `Backend.sinusoidal`. */
  sinusoidal(positions: TablePositions, dim: number, base?: number): Tensor;
  /** See `Backend.addSinusoidal`. */
  addSinusoidal(x: EmbeddingTensor | TensorLike, options?: AddSinusoidalOptions): EmbeddingTensor;
  /** See `Backend.addLearned`. */
  addLearned(
    x: EmbeddingTensor | TensorLike,
    table: TensorLike,
    options?: AddLearnedOptions,
  ): EmbeddingTensor;
  /** See `Backend.attention`. */
  attention(
    q: HeadsTensorLike,
    k: HeadsTensorLike,
    v: HeadsTensorLike,
    options?: AttentionCallOptions,
  ): AttentionResult;
  /** See `Backend.linear`. */
  linear(x: TensorLike, weight: TensorLike, bias?: TensorLike): Tensor;
  /** See `Backend.rmsNorm`. */
  rmsNorm(x: TensorLike, weight?: TensorLike, options?: RmsNormOptions): Tensor;
}

/**
 * A backend: the ops, async at the boundary (workers and GPUs need it). Every op has the same meaning on
 * every backend; the f64 reference in `@ropekit/core` defines it.
 */
export interface Backend {
  readonly name: string;
  /** What this backend can do and the mode it really runs in. */
  describe(): BackendDescription;
  /** cos/sin table for a spec and positions (f64 trig, f32 storage). */
  ropeTable(spec: RopeSpec, positions: TablePositions, options?: RopeTableOptions): Promise<RopeTable>;
  /** Rotates the first rotaryDim channels of every head of `x`. */
  applyRope(x: HeadsTensorLike, rope: RopeInput, options?: RopeCallOptions): Promise<HeadsTensor>;
  /** applyRope on q and k with the same positions (one table for both). */
  applyRopeQK(
    q: HeadsTensorLike,
    k: HeadsTensorLike,
    rope: RopeInput,
    options?: RopeCallOptions,
  ): Promise<RopeQK>;
  /** The sinusoidal encoding table [positions, dim]. */
  sinusoidal(positions: TablePositions, dim: number, base?: number): Promise<Tensor>;
  /** x + sinusoidal encoding of each token's position; x is [batch, seq, dim]. */
  addSinusoidal(x: EmbeddingTensor | TensorLike, options?: AddSinusoidalOptions): Promise<EmbeddingTensor>;
  /** x + table[position]; x is [batch, seq, dim], table is [maxPositions, dim]. */
  addLearned(
    x: EmbeddingTensor | TensorLike,
    table: TensorLike,
    options?: AddLearnedOptions,
  ): Promise<EmbeddingTensor>;
  /**
   * Scaled dot-product attention: q [batch, qHeads, qLen, d], k/v [batch, kvHeads, kvLen, d] in either
   * layout; causal (bottom-right), masks, GQA/MQA, sliding window, soft-cap, ALiBi, fused RoPE.
   * Memory O(N·d): no qLen×kvLen buffer.
   */
  attention(
    q: HeadsTensorLike,
    k: HeadsTensorLike,
    v: HeadsTensorLike,
    options?: AttentionCallOptions,
  ): Promise<AttentionResult>;
  /** y = x·Wᵀ + b for x [..., in], weight [out, in], bias [out]. */
  linear(x: TensorLike, weight: TensorLike, bias?: TensorLike): Promise<Tensor>;
  /**
   * RMSNorm over the last dimension: x / √(mean(x²) + eps) · (weightOffset + w). Per head on a head
   * tensor (Qwen3, Gemma-3 q/k norms), over the full width on a [batch, seq, hidden] tensor (OLMo-2).
   */
  rmsNorm(x: TensorLike, weight?: TensorLike, options?: RmsNormOptions): Promise<Tensor>;
  /** Synchronous variants, when the backend computes on the calling thread. */
  readonly sync?: SyncOps;
  /**
   * Releases caches, memory, workers. Calls made afterwards raise DISPOSED; calls already in flight finish
   * first.
   */
  dispose(): void;
}

/** How a backend is registered: a probe, a factory and a priority (higher wins). */
export interface BackendRegistration {
  readonly name: string;
  /** Higher is preferred by `pickBackend()`. */
  readonly priority: number;
  /** Can this backend run in this runtime? Must not throw; may be async. */
  isSupported(): boolean | Promise<boolean>;
  /** Makes the backend; called once, after the probe passed. */
  create(): Backend | Promise<Backend>;
  /**
   * Optional: after `create()`, a reason why `pickBackend()` should pass over this backend unless it is
   * asked for explicitly (e.g. a GPU backend that found only a software rasteriser), or undefined to
   * accept. The backend stays created, so an explicit choice later reuses it.
   */
  declineAutoPick?(backend: Backend): string | undefined;
}
