import type { AttentionPlan } from "../attention/plan.js";
import type { RmsNormPlan } from "../norm/rms-norm.js";
import type { ApplyRopePlan } from "../rope/apply.js";
import type {
  Dtype,
  EmbeddingTensor,
  FloatArray,
  HeadsTensor,
  RopeTable,
  Tensor,
  TensorData,
} from "../types.js";

/**
 * What the kernels of a backend receive (contract v2): core has validated the call, checked every
 * tensor's dtype against the backend's description, resolved positions and tables and composed the op;
 * a kernel only computes. Kernels may return a value or a promise.
 *
 * Dtypes: every tensor in a plan carries its resolved `dtype`, one of the backend's `describe().dtypes`;
 * its data is a Float32Array ("float32"), a Float64Array ("float64") or a Uint16Array of bits
 * ("float16", "bfloat16" — a caller's Float16Array arrives as a Uint16Array view of the same bytes). A
 * kernel returns its output in the plan's `outDtype` (halves as a Uint16Array of bits, rounded to nearest
 * even); in place, it writes the bits into the input's array. `widenHalfKernels` turns f32/f64 kernels
 * into kernels that take every dtype by converting at the boundary.
 */

/** A tensor as a kernel receives it: its dtype resolved, half data as a Uint16Array of bits. */
export type KernelTensor<T extends Tensor = Tensor> = T & {
  readonly data: TensorData;
  readonly dtype: Dtype;
};

/** applyRope on one tensor: rotate the first rotaryDim channels of every head of `x`. */
export interface RopeKernelPlan extends ApplyRopePlan {
  /** Output in x's dtype. */
  readonly x: KernelTensor<HeadsTensor>;
  /** cos/sin rows covering the call (from the backend's table cache or the caller's table). */
  readonly table: RopeTable;
  /** The table row of every token, b·seq + s. */
  readonly rows: Int32Array;
  /** True when the caller passed the table (a kernel computing its own trig must then use it). */
  readonly tableFromCaller: boolean;
}

/**
 * out[t] = x[t] + table[rows[t]] for every token t of x [batch, seq, dim]: addLearned (table = the learned
 * table) and addSinusoidal (table = one encoding row per distinct position, computed in f64 by core).
 */
export interface AddRowsKernelPlan {
  /** Output in x's dtype. */
  readonly x: KernelTensor<EmbeddingTensor>;
  readonly dims: readonly [number, number, number];
  /** Rows of `dims[2]` values, of `tableDtype` (f32/f64 for addSinusoidal; any for addLearned). */
  readonly table: TensorData;
  readonly tableDtype: Dtype;
  readonly rows: Int32Array;
  readonly inPlace: boolean;
}

/**
 * Attention with q and k already rotated when RoPE was fused, and without sinks: core applies those to
 * the kernel's output from its lse (a per-row rescale), so kernels never see them.
 */
export interface AttentionKernelPlan extends Omit<AttentionPlan, "rope" | "sinks"> {
  readonly qTensor: KernelTensor<HeadsTensor>;
  readonly kTensor: KernelTensor<HeadsTensor>;
  readonly vTensor: KernelTensor<HeadsTensor>;
  /** The output's dtype: q's (q, k and v may differ, e.g. f32 q with bf16 K/V). */
  readonly outDtype: Dtype;
}

/** What an attention kernel returns: the output in q's layout and the lse of every row (always). */
export interface AttentionKernelResult {
  readonly output: HeadsTensor;
  /** [batch, qHeads, qLen] in f32 or f64 whatever the dtypes; −∞ for a row that saw no key. Core drops it unless the caller asked. */
  readonly lse: FloatArray;
}

/** y = x·Wᵀ + b. */
export interface LinearKernelPlan {
  readonly x: KernelTensor;
  readonly weight: KernelTensor;
  readonly bias: KernelTensor | undefined;
  /** The output's dtype: x's. */
  readonly outDtype: Dtype;
  readonly rows: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly outShape: readonly number[];
}

/** RMSNorm over the last dimension of x. */
export interface RmsNormKernelPlan extends RmsNormPlan {
  /** Output in x's dtype. */
  readonly x: KernelTensor;
  readonly weight: KernelTensor | undefined;
}

/** A kernel may compute right away or on a worker / GPU. */
export type MaybePromise<T> = T | Promise<T>;

/** The kernels a backend supplies; `defineBackend` turns them into the `Backend` users call. */
export interface Kernels {
  /** Rotates the plan's tensor (in place when `plan.inPlace`) with the plan's table rows. */
  applyRope(plan: RopeKernelPlan): MaybePromise<HeadsTensor>;
  /** x + table[rows] for every token (addLearned, addSinusoidal). */
  addRows(plan: AddRowsKernelPlan): MaybePromise<EmbeddingTensor>;
  /** Attention of the plan's q, k, v; returns the output in q's layout and every row's lse. */
  attention(plan: AttentionKernelPlan): MaybePromise<AttentionKernelResult>;
  /** y = x·Wᵀ + b. */
  linear(plan: LinearKernelPlan): MaybePromise<Tensor>;
  /** RMSNorm over the last dimension (in place when `plan.inPlace`). */
  rmsNorm(plan: RmsNormKernelPlan): MaybePromise<Tensor>;
}

/** Kernels that compute on the calling thread and return values: they also give `backend.sync`. */
export interface SyncKernels extends Kernels {
  /** Rotates the plan's tensor (in place when `plan.inPlace`) with the plan's table rows. */
  applyRope(plan: RopeKernelPlan): HeadsTensor;
  /** x + table[rows] for every token (addLearned, addSinusoidal). */
  addRows(plan: AddRowsKernelPlan): EmbeddingTensor;
  /** Attention of the plan's q, k, v; returns the output in q's layout and every row's lse. */
  attention(plan: AttentionKernelPlan): AttentionKernelResult;
  /** y = x·Wᵀ + b. */
  linear(plan: LinearKernelPlan): Tensor;
  /** RMSNorm over the last dimension (in place when `plan.inPlace`). */
  rmsNorm(plan: RmsNormKernelPlan): Tensor;
}
