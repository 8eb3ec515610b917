import {
  type AddLearnedOptions,
  type AddSinusoidalOptions,
  type ApplyRopeOptions,
  type ApplyRopePlan,
  type AttentionOptions,
  type AttentionResult,
  type Backend,
  type BackendDescription,
  type EmbeddingTensor,
  type HeadsTensor,
  type Layout,
  OP_NAMES,
  type Positions,
  type RopeInput,
  type RopeQK,
  type RmsNormOptions,
  type RopeTable,
  RopeTableCache,
  RopekitError,
  type SyncOps,
  type TablePositions,
  type Tensor,
  checkQKPair,
  describeValue,
  fusedRopePositions,
  headsShape,
  planAddLearned,
  planAddSinusoidal,
  planApplyRope,
  planAttention,
  planLinear,
  planRmsNorm,
  planSinusoidal,
  repairAttentionRows,
  requireFloat32,
  ropeTable,
} from "@ropekit/core";
import { type Placed, PARAM_WORDS, maskToF32, writeAttentionParams } from "./attention-params.js";
import type { Heap } from "./heap.js";
import { applySinks } from "./sinks.js";
import type { WorkerPool } from "./pool.js";
import { Residents } from "./residents.js";
import { rmsNormRows } from "./rms-norm.js";
import { CallScope, type Input, type PlacedHeads, split } from "./scope.js";
import { encodingRows, writeEncoding } from "./sinusoidal.js";
import { WasmTensor } from "./tensor.js";
import { UploadedTables } from "./uploads.js";
import type { KernelExports, WasmVariant } from "./wasm-module.js";
import type { KernelName } from "./worker-protocol.js";

const BACKEND = "backend-wasm";

/** Runs a kernel split into parts: part 0 on this thread, the others on the pool's workers. */
type Exec = (kernel: KernelName, parts: readonly (readonly number[])[]) => Promise<void> | void;

/** A started call: its result, and when its kernels are done (undefined: already). */
interface Started<T> {
  result: T;
  done: Promise<void> | void;
}

/** A started call inside its scope: also what to copy out once the kernels are done. */
interface Body<T> extends Started<T> {
  copyOut?: (() => void) | undefined;
}

/** Does the attention kernel's lse mark a row for the f64 recompute (NaN or +∞)? */
function needsRepair(lse: Float32Array): boolean {
  for (let i = 0; i < lse.length; i++) {
    const l = lse[i] as number;
    if (Number.isNaN(l) || l === Number.POSITIVE_INFINITY) return true;
  }
  return false;
}

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
 */
export class WasmBackend implements Backend {
  readonly name = "wasm";
  /** Synchronous ops; they always run on the calling thread (the async ops use the worker pool). */
  readonly sync: SyncOps;
  private readonly tables = new RopeTableCache(32);
  private readonly uploads: UploadedTables;
  private readonly residents: Residents;
  private disposed = false;
  /** Async calls not yet settled: dispose() releases memory and workers only once they have. */
  private inFlight = 0;

  /** @internal Use `createWasmBackend()`. */
  constructor(private readonly setup: WasmSetup) {
    this.uploads = new UploadedTables(setup.heap);
    this.residents = new Residents(setup.heap);
    const here: Exec = (kernel, parts) => this.runHere(kernel, parts);
    // Sync ops run everything before returning: refused after dispose, nothing left in flight.
    const now =
      <A extends unknown[], T>(f: (...args: A) => T) =>
      (...args: A): T => {
        this.alive();
        return f(...args);
      };
    this.sync = {
      ropeTable: now(ropeTable),
      applyRope: now((x, rope, options) => this.applyRopeWith(here, 1, x, rope, options).result),
      applyRopeQK: now((q, k, rope, options) => this.applyRopeQKWith(here, 1, q, k, rope, options).result),
      sinusoidal: now((positions, dim, base) => this.sinusoidalTable(positions, dim, base)),
      addSinusoidal: now((x, options) => this.addSinusoidalWith(here, 1, x, options).result),
      addLearned: now((x, table, options) => this.addLearnedWith(here, 1, x, table, options).result),
      attention: now((q, k, v, options) => this.attentionWith(here, 1, q, k, v, options).result),
      linear: now((x, weight, bias) => this.linearWith(here, 1, x, weight, bias).result),
      rmsNorm: now((x, weight, options) => this.rmsNormWith(x, weight, options)),
    };
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
      dtypes: ["float32"],
      ops: OP_NAMES,
      pairings: ["half", "interleaved"],
      layouts: ["bshd", "bhsd"],
      threads: this.threads,
      notes: [
        `AssemblyScript f32x4 kernels (${relaxed ? "relaxed SIMD fused multiply-add" : "SIMD multiply + add"}); trig for RoPE and sinusoidal tables in f64 on the host; attention rows that overflow f32 are recomputed in f64`,
        this.setup.threadsNote,
        this.setup.pool?.note,
      ]
        .filter(Boolean)
        .join("; "),
    };
  }

  /** A zeroed tensor in the backend's memory: ops on it are zero-copy (in place for applyRope). */
  tensor(shape: readonly number[], layout?: Layout): WasmTensor {
    this.alive();
    if (
      !Array.isArray(shape) ||
      shape.length === 0 ||
      !shape.every((d) => Number.isSafeInteger(d) && d > 0)
    ) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `shape must be a non-empty array of positive integers, got ${describeValue(shape)}`,
        "shape",
      );
    }
    if (layout !== undefined && layout !== "bshd" && layout !== "bhsd") {
      throw new RopekitError(
        "INVALID_LAYOUT",
        `layout must be "bshd" or "bhsd", got ${describeValue(layout)}`,
        "layout",
      );
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const region = this.residents.create(n * 4); // TOO_LARGE past 4 GiB, OUT_OF_MEMORY past the limit
    return new WasmTensor(this.setup.heap, this.residents, region, [...shape], layout);
  }

  // ---- async ops: split across the worker pool when there is one ----

  ropeTable(
    spec: Parameters<SyncOps["ropeTable"]>[0],
    positions: TablePositions,
    options?: Parameters<SyncOps["ropeTable"]>[2],
  ): Promise<RopeTable> {
    return this.later(() => ({ result: ropeTable(spec, positions, options), done: undefined }));
  }
  applyRope(x: HeadsTensor, rope: RopeInput, options?: ApplyRopeOptions): Promise<HeadsTensor> {
    return this.later(() => this.applyRopeWith(this.exec(), this.threads, x, rope, options));
  }
  applyRopeQK(q: HeadsTensor, k: HeadsTensor, rope: RopeInput, options?: ApplyRopeOptions): Promise<RopeQK> {
    return this.later(() => this.applyRopeQKWith(this.exec(), this.threads, q, k, rope, options));
  }
  sinusoidal(positions: TablePositions, dim: number, base?: number): Promise<Tensor> {
    return this.later(() => ({ result: this.sinusoidalTable(positions, dim, base), done: undefined }));
  }
  addSinusoidal(x: EmbeddingTensor, options?: AddSinusoidalOptions): Promise<EmbeddingTensor> {
    return this.later(() => this.addSinusoidalWith(this.exec(), this.threads, x, options));
  }
  addLearned(x: EmbeddingTensor, table: Tensor, options?: AddLearnedOptions): Promise<EmbeddingTensor> {
    return this.later(() => this.addLearnedWith(this.exec(), this.threads, x, table, options));
  }
  attention(
    q: HeadsTensor,
    k: HeadsTensor,
    v: HeadsTensor,
    options?: AttentionOptions,
  ): Promise<AttentionResult> {
    return this.later(() => this.attentionWith(this.exec(), this.threads, q, k, v, options));
  }
  linear(x: Tensor, weight: Tensor, bias?: Tensor): Promise<Tensor> {
    return this.later(() => this.linearWith(this.exec(), this.threads, x, weight, bias));
  }
  rmsNorm(x: Tensor, weight?: Tensor, options?: RmsNormOptions): Promise<Tensor> {
    return this.later(() => ({ result: this.rmsNormWith(x, weight, options), done: undefined }));
  }

  /** New calls raise DISPOSED at once; memory and workers are released once the calls in flight end. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.inFlight === 0) this.release();
  }

  private release(): void {
    this.setup.pool?.dispose();
    this.uploads.clear();
    this.tables.clear();
  }

  // ---- running calls ----

  private alive(): void {
    if (this.disposed) throw this.disposedError();
  }

  private disposedError(): RopekitError {
    return new RopekitError("DISPOSED", "this backend-wasm instance was disposed", "backend");
  }

  private runHere(kernel: KernelName, parts: readonly (readonly number[])[]): void {
    const run = this.setup.kernels[kernel] as (...a: number[]) => void;
    for (const args of parts) run(...args);
  }

  private exec(): Exec {
    const pool = this.setup.pool;
    return (kernel, parts) => {
      if (!pool || parts.length === 1) return this.runHere(kernel, parts);
      // Post to the workers first, then run part 0 here while they work.
      const others = pool.run(kernel, parts.slice(1));
      try {
        this.runHere(kernel, parts.slice(0, 1));
      } catch (error) {
        // Fail only once the workers have stopped: the call's memory is freed when it fails.
        const fail = () => {
          throw error;
        };
        return others.then(fail, fail);
      }
      return others;
    };
  }

  /** An async call: refused after dispose; counted until it settles; a throw becomes a rejection. */
  private later<T>(run: () => Started<T>): Promise<T> {
    if (this.disposed) return Promise.reject(this.disposedError());
    this.inFlight++;
    return Promise.resolve()
      .then(async () => {
        const { result, done } = run();
        await done;
        return result;
      })
      .finally(() => {
        this.inFlight--;
        if (this.disposed && this.inFlight === 0) this.release();
      });
  }

  /**
   * Runs a call's body in a fresh scope. The scope (memory, held tables and tensors) is released once the
   * kernels are done and the results copied out, or at once when the body throws.
   */
  private scoped<T>(body: (scope: CallScope) => Body<T>): Started<T> {
    const scope = new CallScope(this.setup.heap);
    let started: Body<T>;
    try {
      started = body(scope);
    } catch (error) {
      scope.release();
      throw error;
    }
    const { result, done, copyOut } = started;
    const end = () => {
      try {
        copyOut?.();
      } finally {
        scope.release();
      }
    };
    if (done === undefined) {
      end();
      return { result, done: undefined };
    }
    return {
      result,
      done: done.then(end, (error: unknown) => {
        scope.release();
        throw error;
      }),
    };
  }

  /**
   * An input array, held for the call if it is a resident tensor's (so a dispose() during the call
   * cannot free it); DISPOSED for a view of a disposed tensor.
   */
  private input(data: Float32Array, name: string, scope: CallScope): Input {
    const found = this.residents.find(data, name);
    const length = data.length;
    if (!found) return { ptr: undefined, region: undefined, length, read: () => data };
    this.residents.hold(found.region, scope);
    const { ptr, region } = found;
    return { ptr, region, length, read: () => this.setup.heap.f32At(ptr, length) };
  }

  /** A small input read once on the host (mask, bias): copied out of wasm memory if it lies there. */
  private hostCopy<A extends Float32Array | Float64Array | Uint8Array>(data: A, name: string): A {
    return this.residents.find(data, name) ? (data.slice() as A) : data;
  }

  // ---- RoPE ----

  /** Uploads the plan's table and rows; returns the ropeApply arguments for tokens [start, end) at `base`. */
  private ropeKernelArgs(
    plan: ApplyRopePlan,
    scope: CallScope,
  ): (base: number, start: number, end: number) => number[] {
    const { table, rows } = this.tables.forPlan(plan);
    const { cos, sin } = this.uploads.acquire(table, scope);
    const rowsPtr = scope.i32(rows);
    const d = plan.dims;
    const inverse = plan.inverse;
    // Inverse: rotate by −angle and undo the attention scale folded into the table.
    const mul = inverse ? 1 / (table.attentionScale * table.attentionScale) : 1;
    const half = plan.spec.rotaryDim / 2;
    const interleaved = plan.spec.pairing === "interleaved" ? 1 : 0;
    return (base, start, end) => [
      base,
      d.seq,
      d.heads,
      d.strideBatch,
      d.strideSeq,
      d.strideHead,
      rowsPtr,
      cos,
      sin,
      half,
      interleaved,
      inverse ? -1 : 1,
      mul,
      start,
      end,
    ];
  }

  /**
   * Plans and stages one applyRope in `scope` — every check and allocation — and returns what runs its
   * kernels, so that q and k are both staged before either is written.
   */
  private stageRope(
    x: HeadsTensor,
    rope: RopeInput,
    options: ApplyRopeOptions,
    scope: CallScope,
    threads: number,
    name: string,
  ): (exec: Exec) => Body<HeadsTensor<Float32Array>> {
    const plan = planApplyRope(x, rope, options, name);
    const src = requireFloat32(x.data, `${name}.data`, BACKEND);
    const input = this.input(src, `${name}.data`, scope);
    const args = this.ropeKernelArgs(plan, scope);
    const d = plan.dims;
    const n = input.length;
    const shape = [...x.shape] as [number, number, number, number];
    const layout = x.layout;
    const parts = (base: number) => split(d.batch * d.seq, threads).map(([s, e]) => args(base, s, e));
    if (plan.inPlace && input.ptr !== undefined) {
      const { ptr, region } = input as { ptr: number; region: NonNullable<Input["region"]> };
      return (exec) => ({
        done: exec("ropeApply", parts(ptr)),
        // A fresh view: allocations may have grown (and so replaced) the memory buffer.
        result: { data: this.residents.view(region, ptr, n), shape, layout },
      });
    }
    const out = plan.inPlace ? src : new Float32Array(n);
    if (threads === 1 && layout === "bshd") {
      // Plain arrays on one thread: stream cache-sized chunks of tokens through a wasm buffer, so the
      // data crosses main memory once each way instead of three times (copy in, rotate, copy out).
      const perToken = d.heads * d.headDim;
      const chunkTokens = Math.max(1, Math.floor(65536 / perToken));
      const chunk = scope.alloc(Math.min(d.batch * d.seq, chunkTokens) * perToken * 4);
      return () => {
        this.rotateStreaming(input, out, perToken, chunkTokens, chunk, args);
        return { result: { data: out, shape, layout }, done: undefined };
      };
    }
    const ptr = scope.copy(input);
    return (exec) => ({
      result: { data: out, shape, layout },
      done: exec("ropeApply", parts(ptr)),
      copyOut: () => out.set(this.setup.heap.f32At(ptr, n)),
    });
  }

  /** bshd tokens are contiguous: rotate chunks of ~256 KiB staged in wasm memory at `chunk`. */
  private rotateStreaming(
    input: Input,
    out: Float32Array,
    perToken: number,
    chunkTokens: number,
    chunk: number,
    args: (base: number, start: number, end: number) => number[],
  ): void {
    const src = input.read();
    const tokens = src.length / perToken;
    const f32 = this.setup.heap.view().f32;
    const kernel = this.setup.kernels.ropeApply as (...a: number[]) => void;
    for (let t0 = 0; t0 < tokens; t0 += chunkTokens) {
      const t1 = Math.min(tokens, t0 + chunkTokens);
      f32.set(src.subarray(t0 * perToken, t1 * perToken), chunk >>> 2);
      // Token t sits at base + t·perToken; shift the base so the chunk's first token lands on `chunk`
      // (wasm addresses wrap modulo 2³², so the shifted base may be "negative").
      kernel(...args((chunk - t0 * perToken * 4) >>> 0, t0, t1));
      out.set(f32.subarray(chunk >>> 2, (chunk >>> 2) + (t1 - t0) * perToken), t0 * perToken);
    }
  }

  /** Rotates a bhsd copy made by `scope.heads` in place, on this thread. */
  private rotateCopy(placed: PlacedHeads, rope: RopeInput, positions: Positions, scope: CallScope): void {
    const plan = planApplyRope(placed.view(), rope, { positions });
    const args = this.ropeKernelArgs(plan, scope);
    this.runHere("ropeApply", [args(placed.ptr, 0, plan.dims.batch * plan.dims.seq)]);
  }

  private applyRopeWith(
    exec: Exec,
    threads: number,
    x: HeadsTensor,
    rope: RopeInput,
    options: ApplyRopeOptions = {},
  ): Started<HeadsTensor<Float32Array>> {
    return this.scoped((scope) => this.stageRope(x, rope, options, scope, threads, "x")(exec));
  }

  private applyRopeQKWith(
    exec: Exec,
    threads: number,
    q: HeadsTensor,
    k: HeadsTensor,
    rope: RopeInput,
    options: ApplyRopeOptions = {},
  ): Started<RopeQK> {
    checkQKPair(q, k);
    return this.scoped((scope) => {
      const runQ = this.stageRope(q, rope, options, scope, threads, "q");
      const runK = this.stageRope(k, rope, options, scope, threads, "k");
      const rq = runQ(exec);
      const rk = runK(exec);
      const done = rq.done || rk.done ? Promise.all([rq.done, rk.done]).then(() => undefined) : undefined;
      const copyOut = () => {
        rq.copyOut?.();
        rk.copyOut?.();
      };
      return { result: { q: rq.result, k: rk.result }, done, copyOut };
    });
  }

  // ---- absolute positions ----

  private sinusoidalTable(positions: TablePositions, dim: number, base?: number): Tensor<Float32Array> {
    // Trig in f64 on the host (as for RoPE tables), stored in f32.
    const plan = planSinusoidal(positions, dim, base);
    const data = new Float32Array(plan.positions.length * dim);
    writeEncoding(data, plan.positions, plan.invFreq, dim);
    return { data, shape: [plan.positions.length, dim] };
  }

  /** out[t] = x[t] + table[rows[t]] in wasm memory; x copied in and out unless resident and in place. */
  private addRows(
    exec: Exec,
    threads: number,
    scope: CallScope,
    dims: readonly [number, number, number],
    input: Input,
    inPlace: boolean,
    tablePtr: number,
    rows: Int32Array,
  ): Body<EmbeddingTensor<Float32Array>> {
    const [batch, seq, dim] = dims;
    const rowsPtr = scope.i32(rows);
    const n = input.length;
    const inWasm = inPlace && input.ptr !== undefined;
    const ptr = inWasm ? (input.ptr as number) : scope.copy(input);
    const out = inWasm
      ? this.residents.view(input.region as NonNullable<Input["region"]>, ptr, n) // after the last allocation
      : inPlace
        ? input.read()
        : new Float32Array(n);
    const parts = split(batch * seq, threads).map(([start, end]) => [
      ptr,
      tablePtr,
      rowsPtr,
      dim,
      start,
      end,
    ]);
    return {
      result: { data: out, shape: [batch, seq, dim] },
      done: exec("addRows", parts),
      copyOut: inWasm ? undefined : () => out.set(this.setup.heap.f32At(ptr, n)),
    };
  }

  private addSinusoidalWith(
    exec: Exec,
    threads: number,
    x: EmbeddingTensor,
    options: AddSinusoidalOptions = {},
  ): Started<EmbeddingTensor<Float32Array>> {
    const plan = planAddSinusoidal(x, options);
    const src = requireFloat32(x.data, "x.data", BACKEND);
    return this.scoped((scope) => {
      const input = this.input(src, "x.data", scope);
      // One encoding row per needed position (cost follows the tokens), in f64 straight into wasm memory.
      const { positions, rows } = encodingRows(plan);
      const dim = plan.dims[2];
      const table = scope.alloc(positions.length * dim * 4);
      writeEncoding(this.setup.heap.f32At(table, positions.length * dim), positions, plan.invFreq, dim);
      return this.addRows(exec, threads, scope, plan.dims, input, plan.inPlace, table, rows);
    });
  }

  private addLearnedWith(
    exec: Exec,
    threads: number,
    x: EmbeddingTensor,
    table: Tensor,
    options: AddLearnedOptions = {},
  ): Started<EmbeddingTensor<Float32Array>> {
    const plan = planAddLearned(x, table, options);
    const src = requireFloat32(x.data, "x.data", BACKEND);
    return this.scoped((scope) => {
      const input = this.input(src, "x.data", scope);
      let tablePtr: number;
      if (table.data instanceof Float32Array) {
        const t = this.input(table.data, "table.data", scope);
        tablePtr = t.ptr ?? scope.copy(t);
      } else tablePtr = scope.f32(table.data);
      return this.addRows(exec, threads, scope, plan.dims, input, plan.inPlace, tablePtr, plan.rows);
    });
  }

  // ---- attention and linear ----

  private attentionWith(
    exec: Exec,
    threads: number,
    q: HeadsTensor,
    k: HeadsTensor,
    v: HeadsTensor,
    options: AttentionOptions = {},
  ): Started<AttentionResult> {
    const plan = planAttention(q, k, v, options);
    const qs = requireFloat32(q.data, "q.data", BACKEND);
    const ks = requireFloat32(k.data, "k.data", BACKEND);
    const vs = requireFloat32(v.data, "v.data", BACKEND);
    const heap = this.setup.heap;
    const kernels = this.setup.kernels;
    return this.scoped((scope) => {
      const qi = this.input(qs, "q.data", scope);
      const ki = this.input(ks, "k.data", scope);
      const vi = this.input(vs, "v.data", scope);
      const mask = plan.mask ? this.hostCopy(plan.mask.data, "mask") : undefined;
      // Resident tensors are used where they are; others are copied in as bhsd.
      const place = (t: HeadsTensor, input: Input, dims: typeof plan.q): Placed =>
        input.ptr !== undefined ? { ...dims, ptr: input.ptr } : scope.heads(t, input);
      let qIn: Placed;
      let kIn: Placed;
      if (plan.rope) {
        // Fused RoPE: rotate copies of q and k inside wasm memory (on this thread: O(N·d) work).
        const positions = fusedRopePositions(plan);
        const qc = scope.heads(q, qi);
        const kc = scope.heads(k, ki);
        this.rotateCopy(qc, plan.rope.rope, positions.q, scope);
        this.rotateCopy(kc, plan.rope.rope, positions.k, scope);
        qIn = qc;
        kIn = kc;
      } else {
        qIn = place(q, qi, plan.q);
        kIn = place(k, ki, plan.k);
      }
      const vIn = place(v, vi, plan.v);
      const rowCount = plan.batch * plan.qHeads * plan.qLen;
      const n = rowCount * plan.vHeadDim;
      const outPtr = scope.alloc(n * 4);
      // Every row's lse, asked for or not: the repair below finds rows that went wrong by it.
      const lsePtr = scope.alloc(rowCount * 4);
      let maskPtr = 0;
      let maskOverflow = false;
      if (plan.mask && mask) {
        if (plan.mask.boolean) maskPtr = scope.u8(mask as Uint8Array);
        else {
          const f32 = maskToF32(mask as Float32Array | Float64Array);
          maskOverflow = f32.overflow;
          maskPtr = scope.f32(f32.values);
        }
      }
      const alibiPtr = plan.alibiSlopes ? scope.f32(plan.alibiSlopes) : 0;
      // Work units as the kernel counts them: blocks of 32 rows, query heads of a kv group packed together.
      const units = plan.batch * plan.kvHeads * Math.ceil(((plan.qHeads / plan.kvHeads) * plan.qLen) / 32);
      const workers = Math.max(1, Math.min(threads, units));
      const scratchBytes = kernels.attentionScratchBytes(plan.headDim, plan.vHeadDim);
      // With several threads, units are claimed from a shared counter, so a faster thread takes more.
      const counter = workers > 1 ? scope.alloc(4) : 0;
      const blocks = Array.from({ length: workers }, () => ({
        params: scope.alloc(PARAM_WORDS * 4),
        scratch: scope.alloc(scratchBytes),
      }));
      if (counter) heap.view().i32[counter >>> 2] = 0;
      const buffers = {
        q: qIn,
        k: kIn,
        v: vIn,
        out: outPtr,
        lse: lsePtr,
        mask: maskPtr,
        alibi: alibiPtr,
        counter,
      };
      for (const [w, b] of blocks.entries())
        writeAttentionParams(heap.view(), b.params, plan, q.layout, buffers, b.scratch, w, workers);
      const done = exec(
        "attention",
        blocks.map((b) => [b.params]),
      );
      const output = new Float32Array(n);
      const lse = new Float32Array(rowCount);
      const copyOut = () => {
        output.set(heap.f32At(outPtr, n));
        lse.set(heap.f32At(lsePtr, rowCount));
        // Rows that overflowed f32 or met NaN/∞ come out non-finite (the kernel makes sure of it): they are
        // recomputed in f64 by the reference, from the caller's own q, k, v (before any fused rotation).
        const view = (t: HeadsTensor, input: Input): HeadsTensor => ({
          data: input.read(),
          shape: t.shape,
          layout: t.layout,
        });
        // The kernel marks every such row in its lse, so rows are only scanned when one is marked. It
        // computed without sinks: its rows are repaired as such, then the sinks applied.
        const { sinks: _, ...withoutSinks } = options;
        if (maskOverflow || needsRepair(lse))
          repairAttentionRows(view(q, qi), view(k, ki), view(v, vi), withoutSinks, output, lse, maskOverflow);
        if (plan.sinks) applySinks(plan, plan.sinks, q.layout, output, lse);
      };
      const shape = headsShape(q.layout, plan.batch, plan.qLen, plan.qHeads, plan.vHeadDim);
      return {
        result: { output: { data: output, shape, layout: q.layout }, lse: plan.returnLse ? lse : undefined },
        done,
        copyOut,
      };
    });
  }

  private rmsNormWith(x: Tensor, weight?: Tensor, options?: RmsNormOptions): Tensor<Float32Array> {
    const plan = planRmsNorm(x, weight, options);
    const src = requireFloat32(x.data, "x.data", BACKEND);
    const w = weight ? requireFloat32(weight.data, "weight.data", BACKEND) : undefined;
    // Computed here and now: resident views are only checked (DISPOSED), never kept.
    this.residents.find(src, "x.data");
    if (w) this.residents.find(w, "weight.data");
    const out = plan.inPlace ? src : new Float32Array(src.length);
    rmsNormRows(src, w, out, plan);
    return { data: out, shape: [...x.shape] };
  }

  private linearWith(
    exec: Exec,
    threads: number,
    x: Tensor,
    weight: Tensor,
    bias?: Tensor,
  ): Started<Tensor<Float32Array>> {
    const { rows, inFeatures, outFeatures, outShape } = planLinear(x, weight, bias);
    const xs = requireFloat32(x.data, "x.data", BACKEND);
    return this.scoped((scope) => {
      const xi = this.input(xs, "x.data", scope);
      const wi =
        weight.data instanceof Float32Array ? this.input(weight.data, "weight.data", scope) : undefined;
      const b = bias ? this.hostCopy(bias.data, "bias.data") : undefined;
      const xPtr = xi.ptr ?? scope.copy(xi);
      const wPtr = wi ? (wi.ptr ?? scope.copy(wi)) : scope.f32(weight.data);
      const bPtr = b ? scope.f32(b) : 0;
      const yPtr = scope.alloc(rows * outFeatures * 4);
      const parts = split(rows, threads).map(([start, end]) => [
        xPtr,
        wPtr,
        bPtr,
        yPtr,
        inFeatures,
        outFeatures,
        start,
        end,
      ]);
      const out = new Float32Array(rows * outFeatures);
      return {
        result: { data: out, shape: outShape },
        done: exec("linear", parts),
        copyOut: () => out.set(this.setup.heap.f32At(yPtr, out.length)),
      };
    });
  }
}
