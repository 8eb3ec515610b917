// The bench page: the same measurement as the Node children (correctness gate, tinybench, copy ceiling),
// for the backends a browser runs. The bench app drives it with Playwright: window.runBench(...).
import { createGpujsBackend } from "@ropekit/backend-gpujs";
import { createWasmBackend } from "@ropekit/backend-wasm";
import { measureWebgpuCeilings } from "@ropekit/benchmarks/ceilings/webgpu";
import { createWebgpuThroughRegistry, ropekitRun } from "@ropekit/benchmarks/contenders/ropekit";
import { measure } from "@ropekit/benchmarks/measure";

async function createBackend(name) {
  if (name === "webgpu") return createWebgpuThroughRegistry();
  if (name.startsWith("wasm-")) return createWasmBackend({ threads: Number(name.slice(5)) });
  if (name.startsWith("gpujs-")) {
    const mode = name.slice(6);
    const backend = await createGpujsBackend({ mode });
    if (backend.device.mode !== mode) throw new Error(`gpu.js ran ${backend.device.mode}, not ${mode}`);
    return backend;
  }
  throw new Error(`unknown browser contender browser-${name}`);
}

/** A peer in the page: onnxruntime-web's WebGPU execution provider on the same navigator.gpu. */
async function measurePeer(config, name, quick) {
  const { ortRun, ortWebgpuDevice } = await import("@ropekit/benchmarks/contenders/ort");
  const result = await measure(config, (c, inputs) => ortRun(name, c, inputs), { quick });
  result.mode = "onnxruntime-web WebGPU EP";
  // What the EP's device was denied on this adapter, and why (ort-webgpu-device.mjs), rides with the row.
  const { note } = await ortWebgpuDevice();
  if (note) result.notes = note;
  return result;
}

window.runBench = async (config, contender, quick) => {
  try {
    const name = contender.replace(/^browser-/, "");
    let result;
    if (name.startsWith("ort-")) {
      result = await measurePeer(config, name, quick);
    } else {
      const backend = await createBackend(name);
      result = await measure(config, async (c, inputs) => ropekitRun(backend, c, inputs), { quick });
      result.mode = backend.describe().mode;
      result.notes = backend.describe().notes;
      backend.dispose();
    }
    // WebGPU contenders are measured against the GPU's own ceilings (WGSL copy and matmul), in this run.
    if (name === "webgpu" && result.status === "ok") result.gpu = await measureWebgpuCeilings({ quick });
    return result;
  } catch (error) {
    return { status: "failed", message: String(error?.message ?? error).slice(0, 300) };
  }
};
document.querySelector("#status").textContent =
  `ready (crossOriginIsolated: ${globalThis.crossOriginIsolated})`;
