// The GPUDevice the browser-ort-webgpu peer hands to onnxruntime-web's WebGPU execution provider (its
// documented `device` option), instead of letting the EP create its own.
//
// Why: onnxruntime-web 1.30 runs MultiHeadAttention with 32 or more query rows through a prefill
// flash-attention kernel (fewer rows go to its decode kernels, which are right here). On a device with
// `subgroups` it compiles that kernel's subgroup variant, which steps through the keys min(subgroup
// size, 16) at a time but, for subgroups of 8 lanes or fewer, always scores 8 keys shuffled from lanes
// 0–7. With SwiftShader's 4-lane subgroups each step advances 4 keys and also counts 4 more read from
// lanes that do not exist, so the output is wrong whatever the kv length: the bench's gate error is
// 0.38–1.0 from 32 rows up (0.91 causal, 0.80 non-causal on 8 × 1024 × 64). Without `subgroups` ORT
// compiles the kernel's workgroup-memory variant (32-key K/V tiles; in ORT's current source also
// its choice on NVIDIA and Apple GPUs), exact to ~1e-7. So the device gets what the EP requests for its
// own (the adapter's optional features it uses, its highest compute limits) except `subgroups` on an
// adapter whose subgroups can be narrower than 8 lanes; elsewhere it is the EP's own choice.
// backend-webgpu requests no subgroups at all, so ORT is denied nothing ropekit uses.
// apps/bench/src/ort-webgpu-subgroups.mjs (`pnpm --filter @ropekit/bench ort-webgpu-subgroups`)
// reproduces the error.

/** Optional features onnxruntime-web's WebGPU EP requests for its own device when the adapter has them. */
const ORT_FEATURES = [
  "chromium-experimental-timestamp-query-inside-passes",
  "chromium-experimental-subgroup-matrix",
  "timestamp-query",
  "shader-f16",
  "subgroups",
  "buffer-map-extended-usages",
];

/** Limits the EP raises to the adapter's maximum for its own device. */
const ORT_LIMITS = [
  "maxBindGroups",
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
];

/** Narrowest subgroup ORT 1.30's subgroup flash-attention kernel computes correctly with. */
export const ORT_MIN_SUBGROUP = 8;

/**
 * Which features the peer's device gets on an adapter with `features` and `info`
 * (GPUAdapterInfo: subgroupMinSize), and why `subgroups` is left out where it is.
 */
export function ortDeviceFeatures(features, info) {
  const has = (f) => (typeof features.has === "function" ? features.has(f) : features.includes(f));
  const minSubgroup = info?.subgroupMinSize;
  const narrow = has("subgroups") && typeof minSubgroup === "number" && minSubgroup < ORT_MIN_SUBGROUP;
  return {
    features: ORT_FEATURES.filter((f) => has(f) && !(narrow && f === "subgroups")),
    note: narrow
      ? `subgroups withheld: this adapter's subgroups can be ${minSubgroup} lanes, ORT's subgroup flash attention needs ${ORT_MIN_SUBGROUP}+ (workgroup-memory kernel instead)`
      : undefined,
  };
}

let pending;

/**
 * The device for onnxruntime-web's WebGPU EP in this page (one per page), and a note saying what was
 * withheld, if anything.
 */
export function ortWebgpuDevice() {
  pending ??= (async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) throw new Error("WebGPU requestAdapter failed: no adapter for onnxruntime-web");
    const { features, note } = ortDeviceFeatures(adapter.features, adapter.info);
    const requiredLimits = {};
    for (const name of ORT_LIMITS)
      if (typeof adapter.limits[name] === "number") requiredLimits[name] = adapter.limits[name];
    const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
    return { device, note };
  })();
  return pending;
}
