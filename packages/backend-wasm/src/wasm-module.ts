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
  ): void;
  addRows(out: number, table: number, rows: number, dim: number, tokenStart: number, tokenEnd: number): void;
  linear(
    x: number,
    w: number,
    bias: number,
    y: number,
    n: number,
    outFeatures: number,
    rowStart: number,
    rowEnd: number,
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
  ): void;
}

/** Runs one kernel call, on whichever thread this is (the backend's or a worker's). */
export function callKernel(kernels: KernelExports, kernel: KernelName, args: readonly number[]): void {
  (kernels[kernel] as (...a: readonly number[]) => void)(...args);
}

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
const bytesCache = new Map<WasmVariant, Promise<Uint8Array<ArrayBuffer>>>();
const moduleCache = new Map<WasmVariant, Promise<WebAssembly.Module>>();

/** The variant's bytes: read from disk in Node, fetched next to this module in a browser. */
export function wasmBytes(variant: WasmVariant): Promise<Uint8Array<ArrayBuffer>> {
  let bytes = bytesCache.get(variant);
  if (!bytes) {
    const url = new URL(`./ropekit.${variant}.wasm`, import.meta.url);
    bytes = (async () => {
      if (isNode && url.protocol === "file:") {
        const fs = "node:fs/promises";
        const { readFile } = (await import(/* @vite-ignore */ fs)) as typeof import("node:fs/promises");
        const file = await readFile(url);
        return new Uint8Array(
          file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer,
        );
      }
      const response = await fetch(url);
      if (!response.ok) throw new Error(`cannot load ${url.href}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    })();
    bytesCache.set(variant, bytes);
  }
  return bytes;
}

/** Does this runtime validate the variant (SIMD, relaxed SIMD, threads)? Never throws. */
export async function supportsVariant(variant: WasmVariant): Promise<boolean> {
  try {
    if (typeof WebAssembly !== "object") return false;
    if (variant.startsWith("threads")) {
      if (typeof SharedArrayBuffer !== "function") return false;
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    }
    return WebAssembly.validate(await wasmBytes(variant));
  } catch {
    return false;
  }
}

/** The compiled module of a variant (compiled once). */
export function wasmModule(variant: WasmVariant): Promise<WebAssembly.Module> {
  let module = moduleCache.get(variant);
  if (!module) {
    module = wasmBytes(variant).then((bytes) => WebAssembly.compile(bytes));
    moduleCache.set(variant, module);
  }
  return module;
}

/** Instantiates the kernels over a memory (shared memory for the threads variants). */
export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
