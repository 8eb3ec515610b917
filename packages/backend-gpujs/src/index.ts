/**
 * `@ropekit/backend-gpujs`: the ropekit ops as gpu.js kernels — WebGL2/WebGL and WebGPU in browsers,
 * headless-gl in Node — with gpu.js's `webasm`/`cpu` fallbacks where no GPU API exists. The backend says
 * which mode really ran and whether the device is a software rasteriser, and the registry does not pick
 * it over the CPU backends in those modes unless asked.
 */
import type { Backend, BackendRegistration } from "@ropekit/core";
import { type GpujsBackend, createGpujsBackend } from "./backend.js";

export { type GpujsBackend, type GpujsBackendOptions, createGpujsBackend } from "./backend.js";
export type { DeviceInfo } from "./device.js";
export type { GpujsMode } from "./gpu.js";

function isGpujsBackend(backend: Backend): backend is GpujsBackend {
  return "device" in backend;
}

/**
 * Registration for the registry: priority 30, above backend-wasm (20), but declined for automatic
 * selection when gpu.js runs on the CPU (its fallbacks, or a software rasteriser such as SwiftShader or
 * llvmpipe), where the wasm backend is faster. `pickBackend({ backend: "gpujs" })` still gets it.
 */
export const gpujsRegistration: BackendRegistration = {
  name: "gpujs",
  priority: 30,
  isSupported: () => true,
  create: () => createGpujsBackend(),
  declineAutoPick(backend) {
    if (!isGpujsBackend(backend)) return undefined;
    const { device } = backend;
    if (device.fallback)
      return `gpu.js found no GPU API and would run its ${device.mode} fallback on the CPU`;
    if (device.software) return `gpu.js ${device.mode} runs on a software rasteriser (${device.renderer})`;
    if (device.renderer === undefined) return `gpu.js ${device.mode} does not say which device it runs on`;
    return undefined;
  },
};
