// The GPUDevice the browser-ort-webgpu peer hands to onnxruntime-web's WebGPU execution provider (its
// documented `device` option), instead of letting the EP create its own.
//
// Why: onnxruntime-web 1.30's prefill flash-attention kernel (taken for 32 or more query rows; fewer go
// to its decode kernels) has a subgroup variant, compiled when the device has `subgroups`. It steps
// through the keys min(subgroup size, 16) at a time, but its branch for subgroups of 8 or fewer lanes
// always scores and accumulates 8 keys, shuffled from lanes 0–7. With 4-lane subgroups (SwiftShader's)
// half of those lanes do not exist and the other half are the next step's keys, so every output row is
// wrong: max relative error ≈ 0.4 (causal) and ≈ 1 (non-causal) on 8 × 1024 × 64, any kv length, while
// the same graphs are exact (≈ 1e-7) on a device without `subgroups`. There ORT compiles the kernel's
// workgroup-memory variant (32-key K/V tiles) — in ORT's current source the variant it also picks on
// NVIDIA and Apple GPUs. So the device gets what the EP requests for itself (the adapter's optional features it uses, its
// highest compute limits) except `subgroups` on an adapter whose subgroups can be narrower than 8 lanes;
// elsewhere it is the EP's own choice. backend-webgpu requests no subgroups at all, so this costs ORT
// nothing ropekit has. `benchmarks/peers/ort-webgpu-subgroups.mjs` reproduces the error.

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
