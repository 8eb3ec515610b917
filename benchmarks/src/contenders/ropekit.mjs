// ropekit's own backends as contenders. `ropekitRun` is shared with the browser page; `createBackend`
// makes the Node backends by contender name.
import { kindRun } from "../kinds.mjs";

/** The function a configuration times on a ropekit backend: one call, output as a Float32Array. */
export function ropekitRun(backend, config, inputs) {
  if (config.kind) return kindRun(backend, config, inputs);
  if (config.op === "rope") {
    const x = { data: inputs.x, shape: inputs.shape, layout: config.layout };
    const options = inputs.position ? { positions: inputs.position } : {};
    return async () => (await backend.applyRope(x, inputs.spec, options)).data;
  }
  if (config.op === "sinusoidal") {
    const x = { data: inputs.x, shape: inputs.shape };
    return async () => (await backend.addSinusoidal(x)).data;
  }
  if (config.op === "attention") {
    const t = (data, shape) => ({ data, shape, layout: config.layout });
    const [q, k, v] = [t(inputs.q, inputs.qShape), t(inputs.k, inputs.kvShape), t(inputs.v, inputs.kvShape)];
    return async () => (await backend.attention(q, k, v, { causal: config.causal })).output.data;
  }
  throw new Error(`unknown op ${config.op}`);
}

/**
 * A WebGPU backend made as users get it: through core's registry (`webgpuRegistration`, then
 * `pickBackend({ backend: "webgpu" })`, which is what `ROPEKIT_BACKEND=webgpu` does), so the adapter it
 * runs on is the one a user's pick would find; asked for by name, since the registry declines software
 * adapters. Shared with the browser page (navigator.gpu there, Dawn in Node).
 */
export async function createWebgpuThroughRegistry() {
  const proc = globalThis.process;
  if (proc?.versions?.node && !proc.env.VK_ICD_FILENAMES && !proc.env.ROPEKIT_WEBGPU_NATIVE) {
    // Node without a configured Vulkan driver: Chromium's SwiftShader ICD where Debian's chromium is
    // installed (as backend-webgpu's tests do); set ROPEKIT_WEBGPU_NATIVE=1 to let the loader find the GPU.
    const { existsSync } = await import("node:fs");
    const icd = "/usr/lib/chromium/vk_swiftshader_icd.json";
    if (existsSync(icd)) proc.env.VK_ICD_FILENAMES = icd;
  }
  const { pickBackend, registerBackend } = await import("@ropekit/core");
  const { webgpuRegistration } = await import("@ropekit/backend-webgpu");
  registerBackend(webgpuRegistration);
  const picked = await pickBackend({ backend: "webgpu", env: {} });
  return picked.backend;
}

/** The registration of a Node contender: the package's own, with the contender's option in `create`. */
async function registrationOf(name) {
  if (name === "js") return (await import("@ropekit/backend-js")).jsRegistration;
  if (name.startsWith("wasm-")) {
    const { createWasmBackend, wasmRegistration } = await import("@ropekit/backend-wasm");
    return { ...wasmRegistration, create: () => createWasmBackend({ threads: Number(name.slice(5)) }) };
  }
  if (name.startsWith("gpujs-")) {
    const mode = name.slice(6);
    const { createGpujsBackend, gpujsRegistration } = await import("@ropekit/backend-gpujs");
    return {
      ...gpujsRegistration,
      async create() {
        const backend = await createGpujsBackend({ mode });
        // gpu.js may fall back silently; a contender that does not run its named mode is not that contender.
        if (backend.device.mode !== mode) {
          backend.dispose();
          throw new Error(`gpu.js ran ${backend.device.mode}, not ${mode}`);
        }
        return backend;
      },
    };
  }
  return undefined;
}

/**
 * Node: the ropekit backend for a contender name (js, wasm-1, wasm-2, gpujs-webasm, gpujs-headlessgl,
 * webgpu), made through core's registry under that name — probe, creation and errors as a user's
 * explicit pick (`ROPEKIT_BACKEND=…`) gets them.
 */
export async function createBackend(name) {
  if (name === "webgpu") return createWebgpuThroughRegistry();
  const registration = await registrationOf(name);
  if (!registration) return undefined;
  const { pickBackend, registerBackend } = await import("@ropekit/core");
  registerBackend({ ...registration, name });
  return (await pickBackend({ backend: name, env: {} })).backend;
}
