// ropekit's own backends as contenders. `ropekitRun` is shared with the browser page; `createBackend`
// makes the Node backends by contender name.

/** The function a configuration times on a ropekit backend: one call, output as a Float32Array. */
export function ropekitRun(backend, config, inputs) {
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

/** Node: the ropekit backend for a contender name (js, wasm-1, wasm-2, gpujs-webasm, gpujs-headlessgl). */
export async function createBackend(name) {
  if (name === "js") return (await import("@ropekit/backend-js")).createJsBackend();
  if (name.startsWith("wasm-")) {
    const { createWasmBackend } = await import("@ropekit/backend-wasm");
    return createWasmBackend({ threads: Number(name.slice(5)) });
  }
  if (name.startsWith("gpujs-")) {
    const { createGpujsBackend } = await import("@ropekit/backend-gpujs");
    const backend = await createGpujsBackend({ mode: name.slice(6) });
    // gpu.js may fall back silently; a contender that does not run its named mode is not that contender.
    if (backend.device.mode !== name.slice(6)) {
      backend.dispose();
      throw new Error(`gpu.js ran ${backend.device.mode}, not ${name.slice(6)}`);
    }
    return backend;
  }
  return undefined;
}
