import type { HeadsTensor, RopeKernelPlan } from "@ropekit/core";
import { split } from "../execution.js";
import { type CallScope, type Env, type Input, type MaybePromise, inScope } from "../scope.js";

/** The ropeApply arguments for tokens [start, end) of a tensor at byte address `base`. */
type RopeArgs = (base: number, start: number, end: number) => number[];

/**
 * applyRope: rotates x in wasm memory with the plan's cos/sin table (uploaded once, shared by the calls
 * that use it). A resident x in place is rotated where it lies; other arrays are copied in and out —
 * streamed through a small buffer when that is cheaper (bshd, one thread).
 */
export function applyRope(env: Env, plan: RopeKernelPlan): MaybePromise<HeadsTensor<Float32Array>> {
  return inScope(env, (scope) => {
    const input = scope.input(plan.x.data as Float32Array, "x.data");
    const args = ropeArgs(env, plan, scope);
    const d = plan.dims;
    const n = input.length;
    const shape = [...plan.x.shape] as [number, number, number, number];
    const layout = plan.x.layout;
    const { exec } = env;
    const parts = (base: number) => split(d.batch * d.seq, exec.threads).map(([s, e]) => args(base, s, e));
    if (plan.inPlace && input.ptr !== undefined && input.region !== undefined) {
      const { ptr, region } = input;
      return {
        done: exec.run("ropeApply", parts(ptr)),
        // A fresh view: allocations may have grown (and so replaced) the memory buffer.
        result: { data: env.residents.view(region, ptr, n), shape, layout },
      };
    }
    const out = plan.inPlace ? input.read() : new Float32Array(n);
    if (exec.threads === 1 && layout === "bshd") {
      // Plain arrays on one thread: stream cache-sized chunks of tokens through a wasm buffer, so the
      // data crosses main memory once each way instead of three times (copy in, rotate, copy out).
      const perToken = d.heads * d.headDim;
      const chunkTokens = Math.max(1, Math.floor(65536 / perToken));
      const chunk = scope.alloc(Math.min(d.batch * d.seq, chunkTokens) * perToken * 4);
      rotateStreaming(env, input, out, perToken, chunkTokens, chunk, args);
      return { result: { data: out, shape, layout }, done: undefined };
    }
    const ptr = scope.copy(input);
    return {
      result: { data: out, shape, layout },
      done: exec.run("ropeApply", parts(ptr)),
      copyOut: () => out.set(env.heap.f32At(ptr, n)),
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

/** bshd tokens are contiguous: rotate chunks of ~256 KiB staged in wasm memory at `chunk`. */
function rotateStreaming(
  env: Env,
  input: Input,
  out: Float32Array,
  perToken: number,
  chunkTokens: number,
  chunk: number,
  args: RopeArgs,
): void {
  const src = input.read();
  const tokens = src.length / perToken;
  const f32 = env.heap.view().f32;
  for (let t0 = 0; t0 < tokens; t0 += chunkTokens) {
    const t1 = Math.min(tokens, t0 + chunkTokens);
    f32.set(src.subarray(t0 * perToken, t1 * perToken), chunk >>> 2);
    // Token t sits at base + t·perToken; shift the base so the chunk's first token lands on `chunk`
    // (wasm addresses wrap modulo 2³², so the shifted base may be "negative").
    env.exec.run("ropeApply", [args((chunk - t0 * perToken * 4) >>> 0, t0, t1)]);
    out.set(f32.subarray(chunk >>> 2, (chunk >>> 2) + (t1 - t0) * perToken), t0 * perToken);
  }
}
