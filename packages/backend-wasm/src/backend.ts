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
  planSinusoidal,
  planRmsNorm,
  requireFloat32,
  repairAttentionRows,
  ropeTable,
} from "@ropekit/core";
import { PARAM_WORDS, type Placed, maskToF32, writeAttentionParams } from "./attention-params.js";
import type { Heap } from "./heap.js";
import { applySinks } from "./sinks.js";
import type { WorkerPool } from "./pool.js";
import { rmsNormRows } from "./rms-norm.js";
import { CallScope, split } from "./scope.js";
import { encodingRows, writeEncoding } from "./sinusoidal.js";
import { WasmTensor } from "./tensor.js";
import { UploadedTables } from "./uploads.js";
import type { KernelExports, WasmVariant } from "./wasm-module.js";
import type { KernelName } from "./worker-protocol.js";

const BACKEND = "backend-wasm";

/** Runs a kernel split into parts: part 0 on this thread, the others on the pool's workers. */
type Exec = (kernel: KernelName, parts: readonly (readonly number[])[]) => Promise<void> | void;

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
  private disposed = false;
  /** Async calls not yet settled: dispose() releases memory and workers only once they have. */
  private inFlight = 0;

  /** @internal Use `createWasmBackend()`. */
  constructor(private readonly setup: WasmSetup) {
    this.uploads = new UploadedTables(setup.heap);
    const runHere: Exec = (kernel, parts) => {
      for (const args of parts) (this.setup.kernels[kernel] as (...a: number[]) => void)(...args);
    };
    // Sync ops run everything before returning: refused after dispose, nothing left in flight.
    const now =
      <A extends unknown[], T>(f: (...args: A) => T) =>
      (...args: A): T => {
        this.alive();
        return f(...args);
      };
    this.sync = {
      ropeTable: now(ropeTable),
      applyRope: now((x, rope, options) => this.syncResult(this.applyRopeWith(runHere, 1, x, rope, options))),
      applyRopeQK: now((q, k, rope, options) =>
        this.syncResult(this.applyRopeQKWith(runHere, 1, q, k, rope, options)),
      ),
      sinusoidal: now((positions, dim, base) => this.sinusoidalTable(positions, dim, base)),
      addSinusoidal: now((x, options) => this.syncResult(this.addSinusoidalWith(runHere, 1, x, options))),
      addLearned: now((x, table, options) =>
        this.syncResult(this.addLearnedWith(runHere, 1, x, table, options)),
      ),
      attention: now((q, k, v, options) => this.syncResult(this.attentionWith(runHere, 1, q, k, v, options))),
      linear: now((x, weight, bias) => this.syncResult(this.linearWith(runHere, 1, x, weight, bias))),
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
    const ptr = this.setup.heap.alloc(n * 4); // TOO_LARGE past 4 GiB, OUT_OF_MEMORY past the limit
    this.setup.heap.view().f32.fill(0, ptr >>> 2, (ptr >>> 2) + n);
    return new WasmTensor(this.setup.heap, ptr, [...shape], layout);
  }

  // ---- async ops: split across the worker pool when there is one ----

  private exec(): Exec {
    const pool = this.setup.pool;
    return (kernel, parts) => {
      if (!pool || parts.length === 1) {
        for (const args of parts) (this.setup.kernels[kernel] as (...a: number[]) => void)(...args);
        return;
      }
      // Post to the workers first, then run part 0 here while they work.
      const others = pool.run(kernel, parts.slice(1));
      try {
        (this.setup.kernels[kernel] as (...a: number[]) => void)(...(parts[0] as number[]));
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

  // ---- implementation ----

  private alive(): void {
    if (this.disposed) throw this.disposedError();
  }

  private disposedError(): RopekitError {
    return new RopekitError("DISPOSED", "this backend-wasm instance was disposed", "backend");
  }

  /** An async call: refused after dispose; counted until it settles; a throw becomes a rejection. */
  private later<T>(run: () => { result: T; done: Promise<void> | void }): Promise<T> {
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

  private syncResult<T>(r: { result: T; done: Promise<void> | void }): T {
    return r.result;
  }

  /** Pointer to x's data in wasm memory if it already lives there. */
  private residentPtr(data: Float32Array): number | undefined {
    return data.buffer === this.setup.heap.memory.buffer ? data.byteOffset : undefined;
  }

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

  /** Rotates the tensor at `ptr` in wasm memory as `plan` says. */
  private rotate(
    exec: Exec,
    threads: number,
    ptr: number,
    plan: ApplyRopePlan,
    scope: CallScope,
  ): Promise<void> | void {
    const args = this.ropeKernelArgs(plan, scope);
    const d = plan.dims;
    return exec(
      "ropeApply",
      split(d.batch * d.seq, threads).map(([start, end]) => args(ptr, start, end)),
    );
  }

  /** bshd tokens are contiguous: rotate chunks of ~256 KiB staged in wasm memory. */
  private rotateStreaming(src: Float32Array, out: Float32Array, plan: ApplyRopePlan, scope: CallScope): void {
    const args = this.ropeKernelArgs(plan, scope);
    const d = plan.dims;
    const perToken = d.heads * d.headDim;
    const tokens = d.batch * d.seq;
    const chunkTokens = Math.max(1, Math.floor(65536 / perToken));
    const chunk = scope.alloc(Math.min(tokens, chunkTokens) * perToken * 4);
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

  private applyRopeWith(
    exec: Exec,
    threads: number,
    x: HeadsTensor,
    rope: RopeInput,
    options: ApplyRopeOptions = {},
  ): { result: HeadsTensor<Float32Array>; done: Promise<void> | void } {
    const plan = planApplyRope(x, rope, options);
    const src = requireFloat32(x.data, "x.data", BACKEND);
    const heap = this.setup.heap;
    const scope = new CallScope(heap);
    try {
      const resident = this.residentPtr(src);
      const shape = [...x.shape] as [number, number, number, number];
      if (plan.inPlace && resident !== undefined) {
        const done = this.rotate(exec, threads, resident, plan, scope);
        // A fresh view: allocations above may have grown (and so replaced) the memory buffer.
        const data = new Float32Array(heap.memory.buffer, resident, src.length);
        return { result: { data, shape, layout: x.layout }, done: this.finish(done, scope) };
      }
      const out = plan.inPlace ? src : new Float32Array(src.length);
      if (threads === 1 && x.layout === "bshd") {
        // Plain arrays on one thread: stream cache-sized chunks of tokens through a wasm buffer, so the
        // data crosses main memory once each way instead of three times (copy in, rotate, copy out).
        this.rotateStreaming(src, out, plan, scope);
        return { result: { data: out, shape, layout: x.layout }, done: this.finish(undefined, scope) };
      }
      const ptr = scope.f32(src);
      const done = this.rotate(exec, threads, ptr, plan, scope);
      const copyOut = () => out.set(heap.view().f32.subarray(ptr >>> 2, (ptr >>> 2) + src.length));
      return { result: { data: out, shape, layout: x.layout }, done: this.finish(done, scope, copyOut) };
    } catch (error) {
      scope.release();
      throw error;
    }
  }

  /** After the kernels: copy results out, then free the call's memory (also on failure). */
  private finish(done: Promise<void> | void, scope: CallScope, copyOut?: () => void): Promise<void> | void {
    if (done === undefined) {
      try {
        copyOut?.();
      } finally {
        scope.release();
      }
      return;
    }
    return done.then(
      () => {
        try {
          copyOut?.();
        } finally {
          scope.release();
        }
      },
      (error: unknown) => {
        scope.release();
        throw error;
      },
    );
  }

  private applyRopeQKWith(
    exec: Exec,
    threads: number,
    q: HeadsTensor,
    k: HeadsTensor,
    rope: RopeInput,
    options: ApplyRopeOptions = {},
  ): { result: RopeQK; done: Promise<void> | void } {
    checkQKPair(q, k);
    planApplyRope(q, rope, options, "q");
    planApplyRope(k, rope, options, "k");
    requireFloat32(q.data, "q.data", BACKEND);
    requireFloat32(k.data, "k.data", BACKEND);
    const rq = this.applyRopeWith(exec, threads, q, rope, options);
    const rk = this.applyRopeWith(exec, threads, k, rope, options);
    const done = rq.done || rk.done ? Promise.all([rq.done, rk.done]).then(() => undefined) : undefined;
    return { result: { q: rq.result, k: rk.result }, done };
  }

  private sinusoidalTable(positions: TablePositions, dim: number, base?: number): Tensor<Float32Array> {
    // Trig in f64 on the host (as for RoPE tables), stored in f32.
    const plan = planSinusoidal(positions, dim, base);
    const data = new Float32Array(plan.positions.length * dim);
    writeEncoding(data, plan.positions, plan.invFreq, dim);
    return { data, shape: [plan.positions.length, dim] };
  }

  /** out[t] += table[rows[t]] in wasm memory; x copied in and out unless resident and in place. */
  private addRowsWith(
    exec: Exec,
    threads: number,
    x: EmbeddingTensor,
    inPlace: boolean,
    table: ArrayLike<number>,
    rows: Int32Array,
  ): { result: EmbeddingTensor<Float32Array>; done: Promise<void> | void } {
    const src = requireFloat32(x.data, "x.data", BACKEND);
    const [batch, seq, dim] = x.shape as [number, number, number];
    const heap = this.setup.heap;
    const scope = new CallScope(heap);
    try {
      const resident = this.residentPtr(src);
      const tablePtr = scope.f32(table);
      const rowsPtr = scope.i32(rows);
      const inWasm = inPlace && resident !== undefined;
      const ptr = inWasm ? (resident as number) : scope.f32(src);
      const out = inWasm
        ? new Float32Array(heap.memory.buffer, ptr, src.length) // fresh view: the buffer may have grown
        : inPlace
          ? src
          : new Float32Array(src.length);
      const parts = split(batch * seq, threads).map(([start, end]) => [
        ptr,
        tablePtr,
        rowsPtr,
        dim,
        start,
        end,
      ]);
      const done = exec("addRows", parts);
      const copyOut = inWasm
        ? undefined
        : () => out.set(heap.view().f32.subarray(ptr >>> 2, (ptr >>> 2) + src.length));
      return { result: { data: out, shape: [batch, seq, dim] }, done: this.finish(done, scope, copyOut) };
    } catch (error) {
      scope.release();
      throw error;
    }
  }

  private addSinusoidalWith(
    exec: Exec,
    threads: number,
    x: EmbeddingTensor,
    options: AddSinusoidalOptions = {},
  ): { result: EmbeddingTensor<Float32Array>; done: Promise<void> | void } {
    const plan = planAddSinusoidal(x, options);
    requireFloat32(x.data, "x.data", BACKEND);
    // One encoding row per needed position (cost follows the tokens, not the span of the ids).
    const { positions, rows } = encodingRows(plan);
    const dim = plan.dims[2];
    const table = new Float32Array(positions.length * dim);
    writeEncoding(table, positions, plan.invFreq, dim);
    return this.addRowsWith(exec, threads, x, plan.inPlace, table, rows);
  }

  private addLearnedWith(
    exec: Exec,
    threads: number,
    x: EmbeddingTensor,
    table: Tensor,
    options: AddLearnedOptions = {},
  ): { result: EmbeddingTensor<Float32Array>; done: Promise<void> | void } {
    const plan = planAddLearned(x, table, options);
    requireFloat32(x.data, "x.data", BACKEND);
    return this.addRowsWith(exec, threads, x, plan.inPlace, table.data, plan.rows);
  }

  private attentionWith(
    exec: Exec,
    threads: number,
    q: HeadsTensor,
    k: HeadsTensor,
    v: HeadsTensor,
    options: AttentionOptions = {},
  ): { result: AttentionResult; done: Promise<void> | void } {
    const plan = planAttention(q, k, v, options);
    const qs = requireFloat32(q.data, "q.data", BACKEND);
    const ks = requireFloat32(k.data, "k.data", BACKEND);
    const vs = requireFloat32(v.data, "v.data", BACKEND);
    const heap = this.setup.heap;
    const kernels = this.setup.kernels;
    const scope = new CallScope(heap);
    try {
      // Resident tensors are used where they are; others are copied in as bhsd.
      const place = (
        t: HeadsTensor,
        data: Float32Array,
        dims: typeof plan.q,
        rotate: boolean,
      ): Placed & { view?: HeadsTensor } => {
        const resident = rotate ? undefined : this.residentPtr(data);
        return resident !== undefined ? { ptr: resident, ...dims } : scope.heads(t);
      };
      const qIn = place(q, qs, plan.q, plan.rope !== undefined);
      const kIn = place(k, ks, plan.k, plan.rope !== undefined);
      if (plan.rope) {
        // Fused RoPE: rotate the copies of q and k inside wasm memory (on this thread: O(N·d) work).
        const positions = fusedRopePositions(plan);
        const here: Exec = (kernel, parts) => {
          for (const args of parts) (kernels[kernel] as (...a: number[]) => void)(...args);
        };
        this.rotate(
          here,
          1,
          qIn.ptr,
          planApplyRope(qIn.view as HeadsTensor, plan.rope.rope, { positions: positions.q }),
          scope,
        );
        this.rotate(
          here,
          1,
          kIn.ptr,
          planApplyRope(kIn.view as HeadsTensor, plan.rope.rope, { positions: positions.k }),
          scope,
        );
      }
      const vIn = place(v, vs, plan.v, false);
      const rowCount = plan.batch * plan.qHeads * plan.qLen;
      const n = rowCount * plan.vHeadDim;
      const outPtr = scope.alloc(n * 4);
      // Every row's lse, asked for or not: the repair below finds rows that went wrong by it.
      const lsePtr = scope.alloc(rowCount * 4);
      let maskPtr = 0;
      let maskOverflow = false;
      if (plan.mask) {
        if (plan.mask.boolean) maskPtr = scope.u8(plan.mask.data as Uint8Array);
        else {
          const f32 = maskToF32(plan.mask.data as Float32Array | Float64Array);
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
        const view = heap.view().f32;
        output.set(view.subarray(outPtr >>> 2, (outPtr >>> 2) + n));
        lse.set(view.subarray(lsePtr >>> 2, (lsePtr >>> 2) + rowCount));
        // Rows that overflowed f32 or met NaN/∞ come out non-finite (the kernel makes sure of it): they are
        // recomputed in f64 by the reference, from the caller's own q, k, v (before any fused rotation).
        // The kernel marks every such row in its lse, so rows are only scanned when one is marked. It
        // computed without sinks: its rows are repaired as such, then the sinks applied.
        const { sinks: _, ...withoutSinks } = options;
        if (maskOverflow || needsRepair(lse))
          repairAttentionRows(q, k, v, withoutSinks, output, lse, maskOverflow);
        if (plan.sinks) applySinks(plan, plan.sinks, q.layout, output, lse);
      };
      const shape = headsShape(q.layout, plan.batch, plan.qLen, plan.qHeads, plan.vHeadDim);
      return {
        result: { output: { data: output, shape, layout: q.layout }, lse: plan.returnLse ? lse : undefined },
        done: this.finish(done, scope, copyOut),
      };
    } catch (error) {
      scope.release();
      throw error;
    }
  }

  private rmsNormWith(x: Tensor, weight?: Tensor, options?: RmsNormOptions): Tensor<Float32Array> {
    const plan = planRmsNorm(x, weight, options);
    const src = requireFloat32(x.data, "x.data", BACKEND);
    const w = weight ? requireFloat32(weight.data, "weight.data", BACKEND) : undefined;
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
  ): { result: Tensor<Float32Array>; done: Promise<void> | void } {
    const { rows, inFeatures, outFeatures, outShape } = planLinear(x, weight, bias);
    const xs = requireFloat32(x.data, "x.data", BACKEND);
    const heap = this.setup.heap;
    const scope = new CallScope(heap);
    try {
      const xPtr = this.residentPtr(xs) ?? scope.f32(xs);
      const wPtr =
        weight.data instanceof Float32Array
          ? (this.residentPtr(weight.data) ?? scope.f32(weight.data))
          : scope.f32(weight.data);
      const bPtr = bias ? scope.f32(bias.data) : 0;
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
      const done = exec("linear", parts);
      const out = new Float32Array(rows * outFeatures);
      const copyOut = () => out.set(heap.view().f32.subarray(yPtr >>> 2, (yPtr >>> 2) + out.length));
      return { result: { data: out, shape: outShape }, done: this.finish(done, scope, copyOut) };
    } catch (error) {
      scope.release();
      throw error;
    }
  }
}
