import type { AttentionPlan } from "../attention/plan.js";
import type { RmsNormPlan } from "../norm/rms-norm.js";
import type { ApplyRopePlan } from "../rope/apply.js";
import type { EmbeddingTensor, FloatArray, HeadsTensor, RopeTable, Tensor } from "../types.js";

/**
 * What the kernels of a backend receive (contract v2): core has validated the call, checked every
 * tensor's dtype against the backend's description, resolved positions and tables and composed the op;
 * a kernel only computes. Kernels may return a value or a promise.
 */

/** applyRope on one tensor: rotate the first rotaryDim channels of every head of `x`. */
export interface RopeKernelPlan extends ApplyRopePlan {
  readonly x: HeadsTensor;
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
  readonly x: EmbeddingTensor;
  readonly dims: readonly [number, number, number];
  /** Rows of `dims[2]` values. */
  readonly table: FloatArray;
  readonly rows: Int32Array;
  readonly inPlace: boolean;
}

/**
 * Attention with q and k already rotated when RoPE was fused, and without sinks: core applies those to
 * the kernel's output from its lse (a per-row rescale), so kernels never see them.
 */
export interface AttentionKernelPlan extends Omit<AttentionPlan, "rope" | "sinks"> {
  readonly qTensor: HeadsTensor;
  readonly kTensor: HeadsTensor;
  readonly vTensor: HeadsTensor;
}

/** What an attention kernel returns: the output in q's layout and the lse of every row (always). */
export interface AttentionKernelResult {
  readonly output: HeadsTensor;
  /** [batch, qHeads, qLen]; −∞ for a row that saw no key. Core drops it unless the caller asked. */
  readonly lse: FloatArray;
}

/** y = x·Wᵀ + b. */
export interface LinearKernelPlan {
  readonly x: Tensor;
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  readonly rows: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly outShape: readonly number[];
}

/** RMSNorm over the last dimension of x. */
export interface RmsNormKernelPlan extends RmsNormPlan {
  readonly x: Tensor;
  readonly weight: Tensor | undefined;
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
