/**
 * `@ropekit/backend-wasm`: AssemblyScript f32x4 SIMD kernels compiled to WebAssembly, with resident
 * tensors in the backend's memory and worker threads over shared memory.
 */
import { type BackendRegistration, RopekitError, describeValue } from "@ropekit/core";
import { WasmBackend } from "./backend.js";
import { Heap, MAX_PAGES } from "./heap.js";
import { WorkerPool } from "./pool.js";
import { type WasmVariant, instantiate, supportsVariant, wasmModule } from "./wasm-module.js";

export { WasmBackend } from "./backend.js";
export { WasmTensor } from "./tensor.js";
export type { WasmVariant } from "./wasm-module.js";

/** Options of `createWasmBackend`. */
export interface WasmBackendOptions {
  /**
   * Threads to compute on, this one included. Default 1. "auto" uses the machine's cores (at most 8).
   * More than 1 needs SharedArrayBuffer (Node, or a browser page that is `crossOriginIsolated`);
   * otherwise the backend runs on one thread and its description says why.
   */
  threads?: number | "auto";
  /** Use relaxed SIMD (fused multiply-add) when the runtime validates it. Default true. */
  relaxedSimd?: boolean;
  /** Upper bound of the wasm memory in bytes (default and maximum: 4 GiB, the wasm32 limit). */
  maxMemoryBytes?: number;
}

function hardwareThreads(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, Math.min(8, nav?.hardwareConcurrency ?? 1));
}

function sharedMemoryAllowed(): string | undefined {
  if (typeof SharedArrayBuffer !== "function") return "SharedArrayBuffer is not available";
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (isolated === false) return "the page is not crossOriginIsolated (serve it with COOP/COEP headers)";
  return undefined;
}

/** Does this runtime run the wasm backend (WebAssembly SIMD)? */
export function isWasmSupported(): Promise<boolean> {
  return supportsVariant("simd");
}

const OPTION_NAMES = ["threads", "relaxedSimd", "maxMemoryBytes"] as const;
const PAGE = 65536;

function invalidOption(name: string, expected: string, got: unknown): RopekitError {
  return new RopekitError("INVALID_OPTION", `${name} must be ${expected}, got ${describeValue(got)}`, name);
}

/** Checks the options before anything is started: a typo or a bad value is an error, never ignored. */
function checkOptions(options: unknown): {
  threads: number;
  relaxedSimd: boolean;
  maxPages: number;
} {
  if (options === null || typeof options !== "object" || Array.isArray(options))
    throw invalidOption("options", "an object", options);
  for (const key of Object.keys(options)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) {
      throw new RopekitError(
        "INVALID_OPTION",
        `unknown option ${JSON.stringify(key)} for createWasmBackend; known options: ${OPTION_NAMES.join(", ")}`,
        `options.${key}`,
      );
    }
  }
  const o = options as WasmBackendOptions;
  const threads = o.threads === "auto" ? hardwareThreads() : (o.threads ?? 1);
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw invalidOption("threads", 'a positive integer or "auto"', o.threads);
  if (o.relaxedSimd !== undefined && typeof o.relaxedSimd !== "boolean")
    throw invalidOption("relaxedSimd", "a boolean", o.relaxedSimd);
  const maxBytes = o.maxMemoryBytes ?? MAX_PAGES * PAGE;
  if (typeof maxBytes !== "number" || !Number.isFinite(maxBytes) || maxBytes < PAGE)
    throw invalidOption("maxMemoryBytes", `a number of bytes >= ${PAGE} (one wasm page)`, o.maxMemoryBytes);
  // Past 4 GiB, wasm32 cannot address more: the limit is capped there.
  return {
    threads,
    relaxedSimd: o.relaxedSimd !== false,
    maxPages: Math.min(MAX_PAGES, Math.floor(maxBytes / PAGE)),
  };
}

/** Compiles (once) and instantiates the kernels, and starts the worker pool if threads > 1. */
export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const checked = checkOptions(options);
  if (!(await supportsVariant("simd"))) {
    throw new RopekitError(
      "BACKEND_UNAVAILABLE",
      "backend-wasm needs WebAssembly SIMD, which this runtime does not validate",
      "backend",
    );
  }
  const { maxPages } = checked;
  const relaxed = checked.relaxedSimd;

  let threads = checked.threads;
  let threadsNote: string | undefined;
  if (threads > 1) {
    const why = sharedMemoryAllowed();
    if (why) {
      threadsNote = `single-threaded: ${why}`;
      threads = 1;
    } else if (!(await supportsVariant("threads"))) {
      threadsNote = "single-threaded: this runtime does not validate wasm threads";
      threads = 1;
    }
  }
  const shared = threads > 1;
  const wantRelaxed: WasmVariant = shared ? "threads-relaxed" : "relaxed";
  const plain: WasmVariant = shared ? "threads" : "simd";
  const variant = relaxed && (await supportsVariant(wantRelaxed)) ? wantRelaxed : plain;
  const module = await wasmModule(variant);

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
