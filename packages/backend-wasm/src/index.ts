/**
 * `@ropekit/backend-wasm`: AssemblyScript f32x4 SIMD kernels compiled to WebAssembly, with resident
 * tensors in the backend's memory and worker threads over shared memory.
 */
import { type BackendRegistration, RopekitError } from "@ropekit/core";
import { WasmBackend } from "./backend.js";
import { Heap } from "./heap.js";
import { type WasmBackendOptions, checkOptions } from "./options.js";
import { WorkerPool } from "./pool.js";
import { type WasmVariant, instantiate, simdSupported, supportsVariant, wasmModule } from "./wasm-module.js";

export { WasmBackend } from "./backend.js";
export { type WasmDtype, WasmTensor } from "./tensor.js";
export type { WasmBackendOptions } from "./options.js";
export type { WasmVariant } from "./wasm-module.js";

function sharedMemoryAllowed(): string | undefined {
  if (typeof SharedArrayBuffer !== "function") return "SharedArrayBuffer is not available";
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (isolated === false) return "the page is not crossOriginIsolated (serve it with COOP/COEP headers)";
  return undefined;
}

/**
 * Does this runtime run the wasm backend (WebAssembly SIMD)? Decided by feature detection alone: a
 * kernel file that cannot be loaded is `createWasmBackend`'s error (with the URL and the reason).
 */
export function isWasmSupported(): Promise<boolean> {
  return Promise.resolve(simdSupported());
}

/** Compiles (once) and instantiates the kernels, and starts the worker pool if threads > 1. */
export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const checked = checkOptions(options);
  if (!simdSupported()) {
    throw new RopekitError(
      "BACKEND_UNAVAILABLE",
      "backend-wasm needs WebAssembly SIMD, which this runtime does not validate",
      "backend",
    );
  }
  const { maxPages, base } = checked;
  // Load (and validate) the plain variant first: a missing or wrong file fails here, saying where it looked.
  if (!(await supportsVariant("simd", base))) {
    throw new RopekitError(
      "BACKEND_UNAVAILABLE",
      "backend-wasm: this runtime does not validate the compiled SIMD kernels",
      "backend",
    );
  }
  const relaxed = checked.relaxedSimd;

  let threads = checked.threads;
  let threadsNote: string | undefined;
  if (threads > 1) {
    const why = sharedMemoryAllowed();
    if (why) {
      threadsNote = `single-threaded: ${why}`;
      threads = 1;
    } else if (!(await supportsVariant("threads", base))) {
      threadsNote = "single-threaded: this runtime does not validate wasm threads";
      threads = 1;
    }
  }
  const shared = threads > 1;
  const wantRelaxed: WasmVariant = shared ? "threads-relaxed" : "relaxed";
  const plain: WasmVariant = shared ? "threads" : "simd";
  const variant = relaxed && (await supportsVariant(wantRelaxed, base)) ? wantRelaxed : plain;
  const module = await wasmModule(variant, base);

  const memory = shared
    ? new WebAssembly.Memory({ initial: Math.min(16, maxPages), maximum: maxPages, shared: true })
    : new WebAssembly.Memory({ initial: Math.min(16, maxPages), maximum: maxPages });
  const kernels = instantiate(module, memory);
  const heap = new Heap(memory, kernels.heapBase(), maxPages);
  let pool: WorkerPool | undefined;
  if (shared) {
    try {
      pool = await WorkerPool.create(module, memory, threads - 1);
    } catch (error) {
      throw new RopekitError(
        "WORKER_FAILED",
        `backend-wasm could not start its workers: ${String(error)}`,
        "threads",
      );
    }
  }
  return new WasmBackend({ variant, kernels, heap, pool, threadsNote });
}

/** Registration for the registry: preferred over backend-js wherever WebAssembly SIMD validates. */
export const wasmRegistration: BackendRegistration = {
  name: "wasm",
  priority: 20,
  isSupported: isWasmSupported,
  create: () => createWasmBackend({ threads: 1 }),
};
