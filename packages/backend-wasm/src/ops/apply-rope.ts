import type { HeadsTensor, RopeKernelPlan } from "@ropekit/core";
import { dtypeBytes, halfTag, heapArray, kernelDtypeCode, newArray, residentView } from "../dtypes.js";
import { split } from "../execution.js";
import { type CallScope, type Env, type Input, type MaybePromise, inScope } from "../scope.js";

/** The ropeApply arguments for tokens [start, end) of a tensor at byte address `base`. */
type RopeArgs = (base: number, start: number, end: number) => number[];

/**
 * applyRope: rotates x in wasm memory with the plan's cos/sin table (uploaded once, shared by the calls
 * that use it). A resident x in place is rotated where it lies; other arrays are copied in and out —
 * streamed through a small buffer when that is cheaper (bshd, one thread). float16 / bfloat16 x travels
 * as its bits (half the bytes of f32) and the kernel converts as it loads and rounds as it stores.
 */
export function applyRope(env: Env, plan: RopeKernelPlan): MaybePromise<HeadsTensor> {
  return inScope(env, (scope) => {
    const input = scope.input(plan.x.data as Float32Array | Uint16Array, "x.data");
    const dtype = plan.x.dtype;
    const args = ropeArgs(env, plan, scope);
    const d = plan.dims;
    const n = input.length;
    const shape = [...plan.x.shape] as [number, number, number, number];
    const layout = plan.x.layout;
    const tag = halfTag(dtype);
    const { exec } = env;
    const parts = (base: number) => split(d.batch * d.seq, exec.threads).map(([s, e]) => args(base, s, e));
    if (plan.inPlace && input.ptr !== undefined && input.region !== undefined) {
      const { ptr, region } = input;
      return {
        done: exec.run("ropeApply", parts(ptr)),
        // A fresh view: allocations may have grown (and so replaced) the memory buffer.
        result: { data: residentView(env.residents, region, dtype, ptr, n), shape, layout, ...tag },
      };
    }
    const out = plan.inPlace ? input.read() : newArray(dtype, n);
    if (exec.threads === 1 && layout === "bshd") {
      // Plain arrays on one thread: stream cache-sized chunks of tokens through a wasm buffer, so the
      // data crosses main memory once each way instead of three times (copy in, rotate, copy out).
      const perToken = d.heads * d.headDim;
      const bytes = dtypeBytes(dtype);
      const chunkTokens = Math.max(1, Math.floor(65536 / perToken));
      const chunk = scope.alloc(Math.min(d.batch * d.seq, chunkTokens) * perToken * bytes);
      rotateStreaming(env, input, out, perToken, chunkTokens, chunk, args);
      return { result: { data: out, shape, layout, ...tag }, done: undefined };
    }
    const ptr = scope.copy(input);
    return {
      result: { data: out, shape, layout, ...tag },
      done: exec.run("ropeApply", parts(ptr)),
      copyOut: () => out.set(heapArray(env.heap, dtype, ptr, n)),
    };
  });
}

/** Uploads the plan's table and rows; returns the ropeApply arguments for tokens [start, end) at `base`. */
function ropeArgs(env: Env, plan: RopeKernelPlan, scope: CallScope): RopeArgs {
  const { table, rows, dims: d, inverse } = plan;
  const { cos, sin } = env.uploads.acquire(table, scope);
  const rowsPtr = scope.i32(rows);
  // Inverse: rotate by −angle and undo the attention scale folded into the table.
  const mul = inverse ? 1 / (table.attentionScale * table.attentionScale) : 1;
  const half = plan.spec.rotaryDim / 2;
  const interleaved = plan.spec.pairing === "interleaved" ? 1 : 0;
  const dtype = kernelDtypeCode(plan.x.dtype);
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
    dtype,
  ];
}

/**
 * bshd tokens are contiguous: rotate chunks of ~256 KiB of f32 (128 KiB of halves) staged in wasm memory
 * at `chunk`, element for element in x's own type.
 */
function rotateStreaming(
  env: Env,
  input: Input<Float32Array | Uint16Array>,
  out: Float32Array | Uint16Array,
  perToken: number,
  chunkTokens: number,
  chunk: number,
  args: RopeArgs,
): void {
  const src = input.read();
  const bytes = input.bytes;
  const tokens = src.length / perToken;
  const heap = bytes === 4 ? env.heap.view().f32 : new Uint16Array(env.heap.buffer());
  const at = chunk / bytes;
  for (let t0 = 0; t0 < tokens; t0 += chunkTokens) {
    const t1 = Math.min(tokens, t0 + chunkTokens);
    heap.set(src.subarray(t0 * perToken, t1 * perToken), at);
    // Token t sits at base + t·perToken; shift the base so the chunk's first token lands on `chunk`
    // (wasm addresses wrap modulo 2³², so the shifted base may be "negative").
    env.exec.run("ropeApply", [args((chunk - t0 * perToken * bytes) >>> 0, t0, t1)]);
    out.set(heap.subarray(at, at + (t1 - t0) * perToken), t0 * perToken);
  }
}
