import { RopekitError } from "@ropekit/core";
import { platform } from "#platform";
import type { KernelName } from "./worker-protocol.js";

/** The compiled kernel variants, built from assembly/ by scripts/build-wasm.mjs. */
export type WasmVariant = "simd" | "relaxed" | "threads" | "threads-relaxed";

/** The kernels' exports (see assembly/index.ts). Pointers and sizes are plain numbers. */
export interface KernelExports {
  heapBase(): number;
  attentionScratchBytes(d: number, dv: number): number;
  attention(params: number): void;
  ropeApply(
    x: number,
    seq: number,
    heads: number,
    strideBatch: number,
    strideSeq: number,
    strideHead: number,
    rows: number,
    cos: number,
    sin: number,
    half: number,
    interleaved: number,
    sign: number,
    mul: number,
    tokenStart: number,
    tokenEnd: number,
    /** x's dtype code (attention-layout.ts DTYPE_*). */
    dtype: number,
  ): void;
  addRows(
    out: number,
    table: number,
    rows: number,
    dim: number,
    tokenStart: number,
    tokenEnd: number,
    outDtype: number,
    tableDtype: number,
  ): void;
  linear(
    x: number,
    w: number,
    bias: number,
    y: number,
    n: number,
    outFeatures: number,
    rowStart: number,
    rowEnd: number,
    xDtype: number,
    wDtype: number,
    biasDtype: number,
    yDtype: number,
  ): void;
  rmsNorm(
    x: number,
    w: number,
    y: number,
    dim: number,
    eps: number,
    weightOffset: number,
    rowStart: number,
    rowEnd: number,
    xDtype: number,
    wDtype: number,
  ): void;
}

/** Runs one kernel call, on whichever thread this is (the backend's or a worker's). */
export function callKernel(kernels: KernelExports, kernel: KernelName, args: readonly number[]): void {
  (kernels[kernel] as (...a: readonly number[]) => void)(...args);
}

/**
 * Where the compiled kernels come from: a directory URL holding the files `ropekit.<variant>.wasm` (as in
 * this package's dist/) and the setting that named it, or undefined for the copies embedded in the
 * JavaScript.
 */
export type WasmBase = { readonly url: URL; readonly source: string } | undefined;

const moduleCache = new Map<string, Promise<WebAssembly.Module>>();
const bytesCache = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

// The smallest module that needs SIMD: one function returning a v128 constant.
// biome-ignore format: bytes by section
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x0b,
]);

/** Does this runtime validate WebAssembly SIMD? Decided without loading any asset; never throws. */
export function simdSupported(): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

// The compiled variants embedded as base64, one module each: bundlers that split code load only the
// variants a runtime uses, and custom hosting (wasmPaths) loads none. Literal paths, for every bundler.
const EMBEDDED: Record<WasmVariant, () => Promise<{ BASE64: string }>> = {
  simd: () => import("./embedded/simd.js"),
  relaxed: () => import("./embedded/relaxed.js"),
  threads: () => import("./embedded/threads.js"),
  "threads-relaxed": () => import("./embedded/threads-relaxed.js"),
};

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function fileName(variant: WasmVariant): string {
  return `ropekit.${variant}.wasm`;
}

function loadFailed(url: URL, source: string, reason: string): RopekitError {
  return new RopekitError(
    "BACKEND_UNAVAILABLE",
    `backend-wasm could not load its WebAssembly from ${url.href} (location from ${source}): ${reason}`,
    source,
  );
}

async function load(variant: WasmVariant, base: WasmBase): Promise<Uint8Array<ArrayBuffer>> {
  if (!base) return decodeBase64((await EMBEDDED[variant]()).BASE64);
  const url = new URL(fileName(variant), base.url);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await platform.readAsset(url);
  } catch (error) {
    throw loadFailed(url, base.source, error instanceof Error ? error.message : String(error));
  }
  // A server that answers every path with a page (SPA fallback) returns 200 and HTML: say so.
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (bytes.length < 8 || magic.some((b, i) => bytes[i] !== b)) {
    const start = new TextDecoder().decode(bytes.subarray(0, 16)).replace(/\s+/g, " ");
    throw loadFailed(
      url,
      base.source,
      `not a WebAssembly module (${bytes.length} bytes starting ${JSON.stringify(start)})`,
    );
  }
  return bytes;
}

/** The variant's bytes, from `base` or embedded; a failed load rejects with the URL and the reason. */
export function wasmBytes(variant: WasmVariant, base: WasmBase): Promise<Uint8Array<ArrayBuffer>> {
  const key = `${variant} ${base?.url.href ?? "embedded"}`;
  let bytes = bytesCache.get(key);
  if (!bytes) {
    bytes = load(variant, base);
    bytesCache.set(key, bytes);
    // A failed load is not remembered: the file may be there on the next try.
    bytes.catch(() => bytesCache.delete(key));
  }
  return bytes;
}

/**
 * Does this runtime validate the variant (relaxed SIMD, threads)? A variant that cannot be loaded
 * rejects (with the URL and the reason) rather than passing for an unsupported feature.
 */
export async function supportsVariant(variant: WasmVariant, base: WasmBase): Promise<boolean> {
  if (!simdSupported()) return false;
  if (variant.startsWith("threads")) {
    if (typeof SharedArrayBuffer !== "function") return false;
    try {
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    } catch {
      return false;
    }
  }
  return WebAssembly.validate(await wasmBytes(variant, base));
}

/** The compiled module of a variant (compiled once per source). */
export function wasmModule(variant: WasmVariant, base: WasmBase): Promise<WebAssembly.Module> {
  const key = `${variant} ${base?.url.href ?? "embedded"}`;
  let module = moduleCache.get(key);
  if (!module) {
    module = wasmBytes(variant, base).then((bytes) => WebAssembly.compile(bytes));
    moduleCache.set(key, module);
    module.catch(() => moduleCache.delete(key));
  }
  return module;
}

/** Instantiates the kernels over a memory (shared memory for the threads variants). */
export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
