import {
  type AttentionKernelPlan,
  type AttentionKernelResult,
  type Layout,
  headsShape,
  layoutDims,
} from "@ropekit/core";
import * as P from "../attention-layout.js";
import { kernelDtypeCode } from "../dtypes.js";
import { type CallScope, type Env, type MaybePromise, type Placed, inScope } from "../scope.js";

/** Addresses of one attention call's buffers in wasm memory (0 for none). */
interface Buffers {
  readonly q: Placed;
  readonly k: Placed;
  readonly v: Placed;
  readonly out: number;
  readonly lse: number;
  readonly mask: number;
  readonly alibi: number;
  readonly counter: number;
  /** Partials of the decode mode's units (0 in the tiled mode). */
  readonly partials: number;
}

/**
 * Attention by the tiled kernel. Resident q, k, v are read where they lie, others copied in as bhsd. Every
 * row's lse is returned: the kernel marks a row it could not compute in f32 with a NaN lse, and core
 * recomputes those rows in f64. Work units are claimed by the threads from a shared counter.
 */
export function attention(env: Env, plan: AttentionKernelPlan): MaybePromise<AttentionKernelResult> {
  const { heap, exec } = env;
  return inScope(env, (scope) => {
    // Every input is looked at before the first allocation, which may grow (and so detach) the memory.
    const qi = scope.input(plan.qTensor.data as Float32Array | Uint16Array, "q.data");
    const ki = scope.input(plan.kTensor.data as Float32Array | Uint16Array, "k.data");
    const vi = scope.input(plan.vTensor.data as Float32Array | Uint16Array, "v.data");
    const maskData = plan.mask ? scope.hostCopy(plan.mask.data, "mask") : undefined;
    const q = scope.heads(plan.q, qi);
    const k = scope.heads(plan.k, ki);
    const v = scope.heads(plan.v, vi);
    const rowCount = plan.batch * plan.qHeads * plan.qLen;
    const n = rowCount * plan.vHeadDim;
    const outHalf = plan.outDtype === "float16" || plan.outDtype === "bfloat16";
    const out = scope.alloc(n * (outHalf ? 2 : 4));
    const lse = scope.alloc(rowCount * 4);
    const mask = plan.mask && maskData ? maskIn(scope, maskData, plan.mask.boolean) : 0;
    const alibi = plan.alibiSlopes ? scope.f32(plan.alibiSlopes) : 0;
    const split = decodeSplit(plan, exec.threads);
    // Work units as the kernel counts them: key chunks of one (batch, kv head) in the decode mode, else
    // blocks of 32 rows, query heads of a kv group packed together.
    const units = split
      ? plan.batch * plan.kvHeads * split.chunks
      : plan.batch * plan.kvHeads * Math.ceil(((plan.qHeads / plan.kvHeads) * plan.qLen) / 32);
    const workers = Math.max(1, Math.min(exec.threads, units));
    const scratchBytes = exec.kernels.attentionScratchBytes(plan.headDim, plan.vHeadDim);
    // With several threads, units are claimed from a shared counter, so a faster thread takes more.
    const counter = workers > 1 ? scope.alloc(4) : 0;
    const rows = (plan.qHeads / plan.kvHeads) * plan.qLen;
    const partials = split ? scope.alloc(units * rows * (plan.vHeadDim + 2) * 4) : 0;
    const blocks = Array.from({ length: workers }, () => ({
      params: scope.alloc(P.PARAM_WORDS * 4),
      scratch: scope.alloc(scratchBytes),
    }));
    if (counter) heap.view().i32[counter >>> 2] = 0;
    const layout = plan.q.layout;
    const buffers: Buffers = { q, k, v, out, lse, mask, alibi, counter, partials };
    const mode = split ? P.MODE_DECODE : P.MODE_TILED;
    for (const [w, b] of blocks.entries())
      writeParams(heap.view(), b.params, plan, layout, buffers, b.scratch, w, workers, mode, split);
    const first = exec.run(
      "attention",
      blocks.map((b) => [b.params]),
    );
    // The decode mode's reduce runs on this thread once every chunk is done (block 0 is reused).
    const reduce = () => {
      const b = blocks[0] as { params: number; scratch: number };
      writeParams(heap.view(), b.params, plan, layout, buffers, b.scratch, 0, 1, P.MODE_REDUCE, split);
      exec.run("attention", [[b.params]]);
    };
    let done = first;
    if (split) {
      if (first) done = first.then(reduce);
      else reduce();
    }
    const output = outHalf ? new Uint16Array(n) : new Float32Array(n);
    const lseOut = new Float32Array(rowCount);
    const shape = headsShape(layout, plan.batch, plan.qLen, plan.qHeads, plan.vHeadDim);
    return {
      result: { output: { data: output, shape, layout, dtype: plan.outDtype }, lse: lseOut },
      done,
      copyOut: () => {
        if (output instanceof Uint16Array) output.set(new Uint16Array(heap.buffer(), out, n));
        else output.set(heap.f32At(out, n));
        lseOut.set(heap.f32At(lse, rowCount));
      },
    };
  });
}

/**
 * The mask in wasm memory: boolean as u8, additive as f32. A finite f64 value past the f32 range would
 * become ±∞ there — a removed key where the reference keeps one — so it becomes NaN: the kernel marks
 * every row that sees it for the f64 recompute.
 */
function maskIn(scope: CallScope, data: Uint8Array | Float32Array | Float64Array, boolean: boolean): number {
  if (boolean) return scope.u8(data as Uint8Array);
  if (data instanceof Float32Array) return scope.f32(data);
  const values = new Float32Array(data);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(values[i] as number) && Number.isFinite(data[i] as number)) values[i] = Number.NaN;
  }
  return scope.f32(values);
}

/** Writes the parameter block (src/attention-layout.ts) of worker `w` of `workers` at byte address `at`. */
function writeParams(
  view: { i32: Int32Array; f32: Float32Array },
  at: number,
  plan: AttentionKernelPlan,
  layout: Layout,
  buffers: Buffers,
  scratch: number,
  w: number,
  workers: number,
  mode: number,
  split: DecodeSplit | undefined,
): void {
  const p = at >>> 2;
  const i32 = (word: number, value: number) => {
    view.i32[p + word] = value;
  };
  const out = layoutDims(layout, plan.batch, plan.qLen, plan.qHeads, plan.vHeadDim);
  i32(P.BATCH, plan.batch);
  i32(P.Q_HEADS, plan.qHeads);
  i32(P.KV_HEADS, plan.kvHeads);
  i32(P.Q_LEN, plan.qLen);
  i32(P.KV_LEN, plan.kvLen);
  i32(P.HEAD_DIM, plan.headDim);
  i32(P.V_HEAD_DIM, plan.vHeadDim);
  i32(P.Q_OFFSET, plan.qOffset);
  i32(P.CAUSAL, plan.causal ? 1 : 0);
  i32(P.WINDOW, plan.window);
  i32(P.Q_PTR, buffers.q.ptr);
  i32(P.K_PTR, buffers.k.ptr);
  i32(P.V_PTR, buffers.v.ptr);
  i32(P.OUT_PTR, buffers.out);
  i32(P.LSE_PTR, buffers.lse);
  i32(P.Q_STRIDE_BATCH, buffers.q.strideBatch);
  i32(P.Q_STRIDE_SEQ, buffers.q.strideSeq);
  i32(P.Q_STRIDE_HEAD, buffers.q.strideHead);
  i32(P.K_STRIDE_BATCH, buffers.k.strideBatch);
  i32(P.K_STRIDE_SEQ, buffers.k.strideSeq);
  i32(P.K_STRIDE_HEAD, buffers.k.strideHead);
  i32(P.V_STRIDE_BATCH, buffers.v.strideBatch);
  i32(P.V_STRIDE_SEQ, buffers.v.strideSeq);
  i32(P.V_STRIDE_HEAD, buffers.v.strideHead);
  i32(P.OUT_STRIDE_BATCH, out.strideBatch);
  i32(P.OUT_STRIDE_SEQ, out.strideSeq);
  i32(P.OUT_STRIDE_HEAD, out.strideHead);
  i32(P.MASK_PTR, buffers.mask);
  i32(P.MASK_BOOLEAN, plan.mask?.boolean ? 1 : 0);
  i32(P.MASK_STRIDE_BATCH, plan.mask?.strideBatch ?? 0);
  i32(P.MASK_STRIDE_HEAD, plan.mask?.strideHead ?? 0);
  i32(P.MASK_STRIDE_QUERY, plan.mask?.strideQuery ?? 0);
  i32(P.ALIBI_PTR, buffers.alibi);
  i32(P.SCRATCH_PTR, scratch);
  view.f32[p + P.SCALE] = plan.scale;
  view.f32[p + P.SOFTCAP] = plan.softcap;
  i32(P.WORK_FIRST, w);
  i32(P.WORK_STEP, workers);
  i32(P.WORK_COUNTER, buffers.counter);
  i32(P.MODE, mode);
  i32(P.CHUNK_KEYS, split?.chunkKeys ?? 0);
  i32(P.CHUNKS, split?.chunks ?? 0);
  i32(P.PARTIALS_PTR, buffers.partials);
  i32(P.Q_DTYPE, kernelDtypeCode(plan.qTensor.dtype));
  i32(P.K_DTYPE, kernelDtypeCode(plan.kTensor.dtype));
  i32(P.V_DTYPE, kernelDtypeCode(plan.vTensor.dtype));
  i32(P.OUT_DTYPE, kernelDtypeCode(plan.outDtype));
}

/** How the decode mode splits each (batch, kv head)'s keys. */
interface DecodeSplit {
  readonly chunks: number;
  readonly chunkKeys: number;
}

/**
 * The decode mode's split, or undefined for the tiled kernel. It takes few packed rows (the query heads
 * of one kv head × query positions, at most DECODE_MAX_ROWS) and head sizes of whole f32x4 vectors. The
 * keys are cut into chunks so that the threads get about four units each (at least 256 keys a chunk, a
 * whole number of key tiles): one pass over K and V serves all rows of a kv head either way.
 */
function decodeSplit(plan: AttentionKernelPlan, threads: number): DecodeSplit | undefined {
  const rows = (plan.qHeads / plan.kvHeads) * plan.qLen;
  if (rows > P.DECODE_MAX_ROWS || plan.headDim % 4 !== 0) return undefined;
  const pairs = plan.batch * plan.kvHeads;
  const wanted = Math.ceil((4 * threads) / pairs);
  const chunks = Math.max(1, Math.min(wanted, Math.floor(plan.kvLen / 256)));
  const tile = 32;
  const chunkKeys = Math.max(tile, Math.ceil(plan.kvLen / chunks / tile) * tile);
  return { chunks: Math.max(1, Math.ceil(plan.kvLen / chunkKeys)), chunkKeys };
}
