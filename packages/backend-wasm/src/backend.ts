import {
  type Backend,
  type BackendDescription,
  type Layout,
  EVERY_OP_AND_LAYOUT,
  RopekitError,
  type SyncOps,
  defineBackend,
  residentTensorElements,
} from "@ropekit/core";
import { type Exec, execution } from "./execution.js";
import type { Heap } from "./heap.js";
import { wasmKernels, wasmSyncKernels } from "./kernels.js";
import { formatValue } from "./options.js";
import type { WorkerPool } from "./pool.js";
import { Residents } from "./residents.js";
import type { Env } from "./scope.js";
import { type WasmDtype, WasmTensor } from "./tensor.js";
import { UploadedTables } from "./uploads.js";
import type { KernelExports, WasmVariant } from "./wasm-module.js";

/** What `createWasmBackend` settles on. */
export interface WasmSetup {
  readonly variant: WasmVariant;
  readonly kernels: KernelExports;
  readonly heap: Heap;
  readonly pool: WorkerPool | undefined;
  /** Why the backend runs on fewer threads than asked, if it does. */
  readonly threadsNote: string | undefined;
}

/**
 * The WebAssembly backend: f32x4 SIMD kernels (relaxed-SIMD fused multiply-add where the runtime
 * validates it), host-owned memory with resident tensors, and an optional worker pool over shared memory.
 * Core plans and validates every call (`defineBackend`); the kernels here only compute.
 */
export class WasmBackend implements Backend {
  readonly name = "wasm";
  /** Synchronous ops; they always run on the calling thread (the async ops use the worker pool). */
  readonly sync: SyncOps;
  readonly ropeTable: Backend["ropeTable"];
  readonly applyRope: Backend["applyRope"];
  readonly applyRopeQK: Backend["applyRopeQK"];
  readonly sinusoidal: Backend["sinusoidal"];
  readonly addSinusoidal: Backend["addSinusoidal"];
  readonly addLearned: Backend["addLearned"];
  readonly attention: Backend["attention"];
  readonly linear: Backend["linear"];
  readonly rmsNorm: Backend["rmsNorm"];
  private readonly defined: Backend;
  private readonly residents: Residents;
  private disposed = false;

  /** @internal Use `createWasmBackend()`. */
  constructor(private readonly setup: WasmSetup) {
    const { heap, kernels, pool } = setup;
    const residents = new Residents(heap);
    const uploads = new UploadedTables(heap);
    const env = (exec: Exec): Env => ({ heap, residents, uploads, exec });
    const b = defineBackend({
      name: "wasm",
      describe: () => this.describe(),
      kernels: wasmKernels(env(execution(kernels, pool))),
      syncKernels: wasmSyncKernels(env(execution(kernels))),
      // After the calls in flight: the workers go, and the uploaded tables (the memory goes with the object).
      dispose: () => {
        pool?.dispose();
        uploads.clear();
      },
    });
    this.defined = b;
    this.residents = residents;
    this.sync = b.sync as SyncOps;
    // An async call keeps the resident tensors it was given alive (and readable) until it has settled —
    // core reads them after the kernels too — even if they are disposed meanwhile.
    const held =
      <A extends unknown[], R>(op: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> => {
        const release = residents.retainArgs(args);
        return op(...args).finally(release);
      };
    this.ropeTable = b.ropeTable;
    this.applyRope = held(b.applyRope);
    this.applyRopeQK = held(b.applyRopeQK);
    this.sinusoidal = b.sinusoidal;
    this.addSinusoidal = held(b.addSinusoidal);
    this.addLearned = held(b.addLearned);
    this.attention = held(b.attention);
    this.linear = held(b.linear);
    this.rmsNorm = held(b.rmsNorm);
  }

  /** Threads the async ops use (this thread included). */
  get threads(): number {
    return 1 + (this.setup.pool?.size ?? 0);
  }

  /** Bytes of wasm memory currently handed out (resident tensors and tables). */
  get allocatedBytes(): number {
    return this.setup.heap.allocatedBytes;
  }

  /** Size of the wasm memory. */
  get memoryBytes(): number {
    return this.setup.heap.memoryBytes;
  }

  /** Mode (SIMD or relaxed SIMD, thread count), precision, ops, and why threads are off if they are. */
  describe(): BackendDescription {
    const relaxed = this.setup.variant.endsWith("relaxed");
    return {
      name: this.name,
      mode: `wasm-${relaxed ? "relaxed-simd" : "simd"}${this.threads > 1 ? `-threads${this.threads}` : ""}`,
      precision: "f32",
      dtypes: ["float32", "float16", "bfloat16"],
      ...EVERY_OP_AND_LAYOUT,
      threads: this.threads,
      notes: [
        `AssemblyScript f32x4 kernels (${relaxed ? "relaxed SIMD fused multiply-add" : "SIMD multiply + add"}) for RoPE, positional rows, attention, linear and RMSNorm (f64 sum of squares); RoPE tables and sinusoidal rows from core's f64 trig; attention rows that overflow f32 are recomputed in f64 by core; every op reads float16/bfloat16 in its kernels (SIMD conversion as data is loaded — per tile in attention —, f32 arithmetic, half outputs rounded to nearest even as they are stored; linear takes half weights with f32 activations, accumulating in f32)`,
        this.setup.threadsNote,
        this.setup.pool?.note,
      ]
        .filter(Boolean)
        .join("; "),
    };
  }

  /**
   * A zeroed tensor in the backend's memory: ops on it are zero-copy (in place for applyRope). With
   * dtype "float16" or "bfloat16" its data is a Uint16Array of bits (half the memory: a KV cache that
   * attention reads directly); pass the tensor itself, or its data with that dtype, to ops.
   */
  tensor(shape: readonly number[], layout?: Layout): WasmTensor;
  tensor(shape: readonly number[], layout: Layout | undefined, dtype: "float32"): WasmTensor;
  tensor(
    shape: readonly number[],
    layout: Layout | undefined,
    dtype: "float16" | "bfloat16",
  ): WasmTensor<Uint16Array>;
  tensor(
    shape: readonly number[],
    layout?: Layout,
    dtype: WasmDtype = "float32",
  ): WasmTensor<Float32Array> | WasmTensor<Uint16Array> {
    if (this.disposed)
      throw new RopekitError("DISPOSED", "this backend-wasm instance was disposed", "backend");
    const n = residentTensorElements(shape, layout);
    if (dtype !== "float32" && dtype !== "float16" && dtype !== "bfloat16") {
      throw new RopekitError(
        "INVALID_DTYPE",
        `dtype must be "float32", "float16" or "bfloat16", got ${formatValue(dtype)}`,
        "dtype",
      );
    }
    // TOO_LARGE past 4 GiB, OUT_OF_MEMORY past the limit.
    const region = this.residents.create(n * (dtype === "float32" ? 4 : 2));
    const heap = this.setup.heap;
    if (dtype === "float32")
      return new WasmTensor<Float32Array>(heap, this.residents, region, [...shape], layout);
    return new WasmTensor<Uint16Array>(heap, this.residents, region, [...shape], layout, dtype);
  }

  /** New calls raise DISPOSED at once; memory and workers are released once the calls in flight end. */
  dispose(): void {
    this.disposed = true;
    this.defined.dispose();
  }
}
