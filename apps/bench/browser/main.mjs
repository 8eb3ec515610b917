// The bench page: the same measurement as the Node children (correctness gate, tinybench, copy ceiling),
// for the backends a browser runs. The bench app drives it with Playwright: window.runBench(...).
import { measure } from "@ropekit/benchmarks/measure";
import { ropekitRun } from "@ropekit/benchmarks/contenders/ropekit";
import { createGpujsBackend } from "@ropekit/backend-gpujs";
import { createWasmBackend } from "@ropekit/backend-wasm";

async function createBackend(contender) {
  const name = contender.replace(/^browser-/, "");
  if (name.startsWith("wasm-")) return createWasmBackend({ threads: Number(name.slice(5)) });
  if (name.startsWith("gpujs-")) {
    const mode = name.slice(6);
    const backend = await createGpujsBackend({ mode });
    if (backend.device.mode !== mode) throw new Error(`gpu.js ran ${backend.device.mode}, not ${mode}`);
    return backend;
  }
  throw new Error(`unknown browser contender ${contender}`);
}

window.runBench = async (config, contender, quick) => {
  try {
    const backend = await createBackend(contender);
    const result = await measure(config, async (c, inputs) => ropekitRun(backend, c, inputs), { quick });
    result.mode = backend.describe().mode;
    result.notes = backend.describe().notes;
    backend.dispose();
    return result;
  } catch (error) {
    return { status: "failed", message: String(error?.message ?? error).slice(0, 300) };
  }
};
document.querySelector("#status").textContent =
  `ready (crossOriginIsolated: ${globalThis.crossOriginIsolated})`;
