import { RopekitError } from "@ropekit/core";
import { MAX_PAGES } from "./heap.js";
import type { WasmBase } from "./wasm-module.js";
import { wasmBase } from "./wasm-paths.js";

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
  /**
   * Where to load the compiled kernels from, for custom hosting: a URL or directory holding the
   * `ropekit.<variant>.wasm` files of this package's dist/ (a path is relative to the page, or to the
   * working directory in Node). Default: `globalThis.ROPEKIT_WASM_PATHS`, else the environment variable
   * `ROPEKIT_WASM_PATHS`, else the copies embedded in the JavaScript, which need no configuration.
   */
  wasmPaths?: string | URL;
}

const OPTION_NAMES = ["threads", "relaxedSimd", "maxMemoryBytes", "wasmPaths"] as const;
const PAGE = 65536;

/** A value as an error message shows it: strings quoted, arrays and typed arrays by length. */
export function formatValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Float32Array).length})`;
  if (Array.isArray(value)) return `array(${value.length})`;
  return typeof value;
}

function invalidOption(name: string, expected: string, got: unknown): RopekitError {
  return new RopekitError("INVALID_OPTION", `${name} must be ${expected}, got ${formatValue(got)}`, name);
}

function hardwareThreads(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, Math.min(8, nav?.hardwareConcurrency ?? 1));
}

/** Checks the options before anything is started: a typo or a bad value is an error, never ignored. */
export function checkOptions(options: unknown): {
  threads: number;
  relaxedSimd: boolean;
  maxPages: number;
  base: WasmBase;
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
    base: wasmBase(o.wasmPaths),
  };
}
