/**
 * `@ropekit/core`: the vocabulary, the f64 reference math, the backend contract and the registry.
 */
export * from "./types.js";
export { RopekitError, type RopekitErrorCode, describeValue, isRopekitError } from "./errors.js";
export { checkOptions } from "./options.js";
export { type ResidentData, isResidentData, requireHostData } from "./resident.js";
export {
  type DimsTensor,
  type HeadsTensorLike,
  type InteropOptions,
  type OrtTensorConstructor,
  type TensorLike,
  fromTensorLike,
  interopArgs,
  isDimsTensor,
  toDimsTensor,
  toOrtTensor,
} from "./interop.js";
export {
  type HeadsDims,
  checkFloatData,
  embeddingDims,
  embeddingTensor,
  headRowMeasure,
  headsDims,
  headsShape,
  headsTensor,
  layoutDims,
  requireFloat32,
  residentTensorElements,
  tableDims,
  toLayout,
} from "./tensor.js";
export { type RopeSpecInit, ropeSpec, validateRopeSpec } from "./rope/spec.js";
export { type HFConfigOptions, ropeSpecFromHF } from "./rope/hf-config.js";
export { type FrequencyOptions, frequencyKey, ropeFrequencies } from "./rope/frequencies.js";
export { MAX_POSITION, type ResolvedPositions, positionAt, resolvePositions } from "./rope/positions.js";
export { type MultimodalSegment, mropePositionIds } from "./rope/mrope-positions.js";
export { RopeTableCache } from "./rope/table-cache.js";
export {
  type RopeTableOptions,
  type TablePositions,
  checkRopeTable,
  ropeTable,
  tableRows,
} from "./rope/table.js";
export {
  type ApplyRopeOptions,
  type ApplyRopePlan,
  type RopeInput,
  applyRopeReference,
  isRopeTable,
  planApplyRope,
} from "./rope/apply.js";
export {
  type AddSinusoidalOptions,
  type AddSinusoidalPlan,
  type SinusoidalPlan,
  addSinusoidalReference,
  addSinusoidalRows,
  planAddSinusoidal,
  planSinusoidal,
  sinusoidalInvFreq,
  sinusoidalReference,
} from "./absolute/sinusoidal.js";
export {
  type AddLearnedOptions,
  type AddLearnedPlan,
  addLearnedReference,
  planAddLearned,
} from "./absolute/learned.js";
export {
  type AttentionCallOptions,
  type Backend,
  type BackendDescription,
  type BackendRegistration,
  type CheckedOps,
  type Dtype,
  EVERY_OP_AND_LAYOUT,
  OP_NAMES,
  type OpName,
  type RopeCallOptions,
  type RopeQK,
  type SyncOps,
} from "./backend/contract.js";
export { type BackendDefinition, checkQKPair, defineBackend } from "./backend/define.js";
export type {
  AddRowsKernelPlan,
  AttentionKernelPlan,
  AttentionKernelResult,
  KernelTensor,
  Kernels,
  LinearKernelPlan,
  MaybePromise,
  RmsNormKernelPlan,
  RopeKernelPlan,
  SyncKernels,
} from "./backend/kernels.js";
export {
  createReferenceBackend,
  referenceCapabilities,
  referenceKernels,
  referenceRegistration,
} from "./backend/reference.js";
export { type RmsNormOptions, type RmsNormPlan, planRmsNorm, rmsNormReference } from "./norm/rms-norm.js";
export {
  type PickOptions,
  type PickedBackend,
  type SkippedBackend,
  listBackends,
  pickBackend,
  registerBackend,
  unregisterBackend,
} from "./backend/registry.js";
export { maxRelativeError } from "./compare.js";
export {
  DTYPES,
  allocDtype,
  convertTensor,
  dtypeOf,
  isFloat16Array,
  isHalfDtype,
  isTensorData,
  kernelData,
  narrowData,
  referenceInput,
  roundToDtype,
  tensorDtype,
  widenData,
  widenTensor,
} from "./dtype/dtype.js";
export {
  type HalfDtype,
  bfloat16Bits,
  bfloat16Value,
  decodeHalf,
  encodeHalf,
  float16Bits,
  float16Value,
  halfBits,
  halfValue,
  roundToHalf,
} from "./dtype/half.js";
export { type KernelWidth, widenHalfKernels } from "./dtype/widen-kernels.js";
export {
  type AttentionMask,
  type AttentionOptions,
  type AttentionPlan,
  type AttentionSizes,
  type AttentionResult,
  type CausalMode,
  type FusedRope,
  fusedRopePositions,
  kvHeadOf,
  planAttention,
  visibleKeys,
} from "./attention/plan.js";
export {
  attentionReference,
  attentionReferenceKernel,
  attentionScore,
  repairAttentionRows,
} from "./attention/attention.js";
export { type LinearPlan, linearReference, planLinear } from "./linear/linear.js";
export { KVCache, type KVCacheDtype, type KVCacheOptions } from "./modules/kv-cache.js";
export type { LayerPositions } from "./modules/layer-inputs.js";
export {
  type ForwardOptions,
  MultiHeadAttention,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionWeights,
} from "./modules/multi-head-attention.js";
export { type AttentionFromHFOptions, attentionFromHF } from "./modules/attention-from-hf.js";
export {
  type SafetensorsOptions,
  encodeSafetensors,
  loadSafetensors,
  parseSafetensors,
} from "./io/safetensors.js";
