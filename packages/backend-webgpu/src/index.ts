/**
 * `@ropekit/backend-webgpu`: the ropekit ops as WGSL compute kernels on WebGPU — `navigator.gpu` in
 * browsers, Dawn's Node binding (the optional peer dependency `webgpu`) in Node. The backend names the
 * adapter it runs on and whether it is a software or fallback adapter; the registry passes over it on
 * those unless asked for.
 */
import type { Backend, BackendRegistration } from "@ropekit/core";
import { type WebgpuBackend, createWebgpuBackend } from "./backend.js";

export { type WebgpuBackend, type WebgpuBackendOptions, createWebgpuBackend } from "./backend.js";
export { type AdapterDescription, type DeviceOptions, adapterName } from "./device.js";
export type { WebgpuResidentOps, WebgpuTensorInit } from "./resident-backend.js";
export { type WebgpuDtype, type WebgpuStats, GpuResident } from "./residents.js";
export { type HostArrayOf, WebgpuTensor } from "./tensor.js";

function isWebgpuBackend(backend: Backend): backend is WebgpuBackend {
  return "adapter" in backend;
}

/** Why `pickBackend()` should pass over a backend on this adapter, or undefined to take it. */
export function declineReason(backend: Backend): string | undefined {
  if (!isWebgpuBackend(backend)) return undefined;
  const a = backend.adapter;
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(" / ") || "unnamed adapter";
  if (a.isFallbackAdapter) return `WebGPU found only a fallback adapter (${name}), which runs on the CPU`;
  if (a.software) return `WebGPU adapter ${name} is a software renderer, which runs on the CPU`;
  return undefined;
}

/**
 * Registration for the registry: priority 40, above backend-gpujs (30) and backend-wasm (20). Declined
 * for automatic selection on fallback and software adapters (SwiftShader, lavapipe/llvmpipe, WARP),
 * where the CPU backends are faster; `pickBackend({ backend: "webgpu" })` still gets it. In Node
 * without the `webgpu` package or without a GPU driver, `create()` fails with BACKEND_UNAVAILABLE and
 * the registry says so. The probe passes everywhere and `create()` is the real check, so a skipped
 * backend carries its reason (no `navigator.gpu`, no `webgpu` package, no adapter); it is cheap where
 * WebGPU is absent (a failed import or a missing global), and Dawn loads only where the package is.
 */
export const webgpuRegistration: BackendRegistration = {
  name: "webgpu",
  priority: 40,
  isSupported: () => true,
  create: () => createWebgpuBackend(),
  declineAutoPick: declineReason,
};
