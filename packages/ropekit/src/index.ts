/**
 * `ropekit`: the package a user installs. It registers the backends it ships with, picks the best one
 * for this runtime, and exports the API users call: the ops, specs and configs, the layer and cache,
 * the f64 references, errors and backend selection. Backend authors use `@ropekit/core` (defineBackend,
 * kernel plans) and `@ropekit/core/testing` (conformance and reliability suites).
 *
 * ```ts
 * import { ropeSpecFromHF, applyRope } from "ropekit";
 * const spec = ropeSpecFromHF(config);
 * const q2 = await applyRope(q, spec, { positions: 0 });
 * ```
 */
import {
  type AddLearnedOptions,
  type AddSinusoidalOptions,
  type AttentionCallOptions,
  type AttentionResult,
  type EmbeddingTensor,
  type HeadsTensor,
  type HeadsTensorLike,
  type RopeCallOptions,
  type PickOptions,
  type PickedBackend,
  type RopeInput,
  type RmsNormOptions,
  type RopeQK,
  type TablePositions,
  type Tensor,
  type TensorLike,
  listBackends,
  pickBackend,
  referenceRegistration,
  registerBackend,
} from "@ropekit/core";
import { jsRegistration } from "@ropekit/backend-js";
import { wasmRegistration } from "@ropekit/backend-wasm";
import { webgpuRegistration } from "@ropekit/backend-webgpu";
import {
  type ConfigureOptions,
  type ThreadsReport,
  applyConfigure,
  configuredBackend,
  threadsReport,
  wasmTopLevelRegistration,
} from "./configure.js";

export type { ConfigureOptions, ThreadsReport } from "./configure.js";
export type { ThreadsSetting } from "./threads.js";

export type {
  AttentionFromHFOptions,
  LayerPositions,
  MultimodalPositions,
  MultimodalSegment,
  AddLearnedOptions,
  AddSinusoidalOptions,
  ApplyRopeOptions,
  AttentionMask,
  AttentionOptions,
  AttentionResult,
  Backend,
  BackendDescription,
  BackendRegistration,
  CausalMode,
  AttentionCallOptions,
  DimsTensor,
  Dtype,
  EmbeddingTensor,
  FloatArray,
  ForwardOptions,
  FrequencyOptions,
  FusedRope,
  HFConfigOptions,
  HeadsTensor,
  HeadsTensorLike,
  InteropOptions,
  KVCacheOptions,
  Layout,
  MultiHeadAttentionConfig,
  MultiHeadAttentionWeights,
  OpName,
  Pairing,
  PickOptions,
  PickedBackend,
  Positions,
  RmsNormOptions,
  RopeFrequencies,
  RopeCallOptions,
  RopeInput,
  RopeQK,
  RopeScaling,
  RopeScalingType,
  RopeSpec,
  RopeSpecInit,
  RopeTable,
  RopeTableOptions,
  RopekitErrorCode,
  SkippedBackend,
  SyncOps,
  TablePositions,
  Tensor,
  TensorData,
  TensorLike,
  KVCacheDtype,
  OrtTensorConstructor,
} from "@ropekit/core";
export {
  KVCache,
  MAX_POSITION,
  attentionFromHF,
  encodeSafetensors,
  loadSafetensors,
  mropePositionIds,
  parseSafetensors,
  MultiHeadAttention,
  OP_NAMES,
  RopekitError,
  addLearnedReference,
  addSinusoidalReference,
  applyRopeReference,
  attentionReference,
  convertTensor,
  createReferenceBackend,
  embeddingTensor,
  headsShape,
  headsTensor,
  isRopekitError,
  linearReference,
  listBackends,
  maxRelativeError,
  pickBackend,
  registerBackend,
  rmsNormReference,
  ropeFrequencies,
  ropeSpec,
  ropeSpecFromHF,
  ropeTable,
  sinusoidalReference,
  toDimsTensor,
  toLayout,
  toOrtTensor,
  unregisterBackend,
} from "@ropekit/core";
export { createJsBackend, type JsBackendOptions } from "@ropekit/backend-js";
export { WasmBackend, type WasmBackendOptions, WasmTensor, createWasmBackend } from "@ropekit/backend-wasm";
export {
  type AdapterDescription,
  type WebgpuBackend,
  type WebgpuBackendOptions,
  type WebgpuStats,
  WebgpuTensor,
  type WebgpuTensorInit,
  createWebgpuBackend,
} from "@ropekit/backend-webgpu";

/**
 * Registers the backends this package ships with (idempotent; called on import): webgpu above wasm,
 * then js and the f64 reference. Registering costs nothing: webgpu looks for an adapter only when
 * `pickBackend()` first reaches it (Dawn loads only in Node where the optional `webgpu` package is
 * installed), and it is picked only on a hardware adapter; on software or fallback adapters it is
 * declined with the reason, unless asked for by name.
 */
export function registerDefaultBackends(): void {
  const known = new Set(listBackends().map((b) => b.name));
  if (!known.has(webgpuRegistration.name)) registerBackend(webgpuRegistration);
  // backend-wasm on the threads `configure()` says ("auto" unless told otherwise).
  if (!known.has(wasmRegistration.name)) registerBackend(wasmTopLevelRegistration());
  if (!known.has(jsRegistration.name)) registerBackend(jsRegistration);
  if (!known.has(referenceRegistration.name)) registerBackend(referenceRegistration);
}

registerDefaultBackends();

/** What `getBackend()` returns: the picked backend, and how many threads it computes on and why. */
export interface TopLevelBackend extends PickedBackend, ThreadsReport {}

let current: Promise<TopLevelBackend> | undefined;

/**
 * Settings of the top-level ops: `threads` for backend-wasm ("auto" by default: the available
 * parallelism where SharedArrayBuffer is usable, else 1) and `backend` (an explicit choice, which wins
 * over `ROPEKIT_BACKEND` and `?backend=`). The next op picks again with them; a wasm backend created
 * with the old thread count is disposed once its calls in flight end.
 *
 * @example
 * ```ts
 * configure({ threads: 4 }); // or "auto", or 1
 * const { threads, threadsReason } = await getBackend(); // 4, "4 threads: configured"
 * ```
 */
export function configure(options: ConfigureOptions): void {
  if (applyConfigure(options).threadsChanged) registerBackend(wasmTopLevelRegistration());
  current = undefined;
}

/**
 * The backend the top-level ops run on: picked once with `pickBackend()` (an explicit choice — by
 * `configure({ backend })`, `ROPEKIT_BACKEND` or `?backend=` — wins), then reused. Pass options to pick
 * again. Says how many threads it computes on and why (`threads`, `threadsReason`).
 */
export function getBackend(options?: PickOptions): Promise<TopLevelBackend> {
  if (options !== undefined || current === undefined) {
    const backend = configuredBackend();
    const pick = backend === undefined ? options : { backend, ...options };
    const picking = pickBackend(pick).then((p) => ({ ...p, ...threadsReport(p) }));
    current = picking;
    // A failed pick must not stick: the next call tries again.
    picking.catch(() => {
      if (current === picking) current = undefined;
    });
  }
  return current;
}

/**
 * Rotates q or k (see `Backend.applyRope`) on the picked backend.
 *
 * @example
 * ```ts
 * const spec = ropeSpecFromHF(config); // any HF config.json
 * const q = { data: new Float32Array(16 * 32 * 128), shape: [1, 16, 32, 128], layout: "bshd" } as const;
 * const rotated = await applyRope(q, spec); // positions 0…15
 * await applyRope(q, spec, { positions: 4096, inPlace: true }); // KV-cache decode at 4096…
 * ```
 */
export async function applyRope(
  x: HeadsTensorLike,
  rope: RopeInput,
  options?: RopeCallOptions,
): Promise<HeadsTensor> {
  return (await getBackend()).backend.applyRope(x, rope, options);
}

/** Rotates q and k with the same positions on the picked backend. */
export async function applyRopeQK(
  q: HeadsTensorLike,
  k: HeadsTensorLike,
  rope: RopeInput,
  options?: RopeCallOptions,
): Promise<RopeQK> {
  return (await getBackend()).backend.applyRopeQK(q, k, rope, options);
}

/** The sinusoidal table [positions, dim] on the picked backend. */
export async function sinusoidal(positions: TablePositions, dim: number, base?: number): Promise<Tensor> {
  return (await getBackend()).backend.sinusoidal(positions, dim, base);
}

/** x + sinusoidal encoding, on the picked backend. */
export async function addSinusoidal(
  x: EmbeddingTensor | TensorLike,
  options?: AddSinusoidalOptions,
): Promise<EmbeddingTensor> {
  return (await getBackend()).backend.addSinusoidal(x, options);
}

/** x + learned table rows by position, on the picked backend. */
export async function addLearned(
  x: EmbeddingTensor | TensorLike,
  table: TensorLike,
  options?: AddLearnedOptions,
): Promise<EmbeddingTensor> {
  return (await getBackend()).backend.addLearned(x, table, options);
}

/**
 * Scaled dot-product attention on the picked backend (see `Backend.attention`).
 *
 * @example
 * ```ts
 * // q [1, 32, 1, 128] decoding against a cache of 4096 keys, GQA with 8 kv heads, fused RoPE.
 * const { output, lse } = await attention(q, cache.keys, cache.values, {
 *   causal: true,
 *   kvLength: cache.length,
 *   rope: { rope: spec },
 *   returnLse: true,
 * });
 * ```
 */
export async function attention(
  q: HeadsTensorLike,
  k: HeadsTensorLike,
  v: HeadsTensorLike,
  options?: AttentionCallOptions,
): Promise<AttentionResult> {
  const backend = (await getBackend()).backend;
  return backend.attention(q, k, v, options);
}

/** y = x·Wᵀ + b on the picked backend. */
export async function linear(x: TensorLike, weight: TensorLike, bias?: TensorLike): Promise<Tensor> {
  return (await getBackend()).backend.linear(x, weight, bias);
}

/**
 * RMSNorm over the last dimension (q/k norms of Qwen3, Gemma-3, OLMo-2) on the picked backend.
 *
 * @example
 * ```ts
 * const qNormed = await rmsNorm(q, qNormWeight, { eps: config.rms_norm_eps }); // per head (Qwen3)
 * const gemma = await rmsNorm(q, qNormWeight, { eps: 1e-6, weightOffset: 1 }); // 1 + w (Gemma-3)
 * ```
 */
export async function rmsNorm(x: TensorLike, weight?: TensorLike, options?: RmsNormOptions): Promise<Tensor> {
  return (await getBackend()).backend.rmsNorm(x, weight, options);
}
