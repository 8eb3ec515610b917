import {
  type ApplyRopeOptions,
  type AttentionOptions,
  type AttentionResult,
  type Backend,
  type BackendDescription,
  type HeadsTensor,
  OP_NAMES,
  type RopeInput,
  type RopeQK,
  RopeTableCache,
  RopekitError,
  checkQKPair,
  describeValue,
  fusedRopePositions,
  headsDims,
  planApplyRope,
  planAttention,
  planRmsNorm,
  requireFloat32,
  ropeTable,
} from "@ropekit/core";
import { addLearnedOnGpu, addSinusoidalOnGpu, sinusoidalTable } from "./absolute/encodings.js";
import { attentionOnGpu } from "./attention/attention.js";
import { CHUNK_ELEMENTS, type DeviceInfo, GpuContext, type GpujsMode } from "./gpu.js";
import { linearOnGpu } from "./linear/linear.js";
import { rmsNorm } from "./norm/rms-norm.js";
import { rotate } from "./rope/apply.js";

/** Options of `createGpujsBackend`. */
export interface GpujsBackendOptions {
  /**
   * The gpu.js mode to ask for. Default `"gpu"`: gpu.js's best GL mode (headless-gl in Node, WebGL2 or
   * WebGL in browsers), falling back to its `webasm` mode, then `cpu`. `"webgpu"` must be asked for.
   */
  mode?: GpujsMode;
  /** How many RoPE tables to keep for reuse across calls. Default 32. */
  tableCacheSize?: number;
  /**
   * Most elements one kernel call reads or writes (default 2^22, at most 2^22): larger work is split into
   * several calls. Bounds GPU memory and keeps f32 index arithmetic exact; tests set it small.
   */
  chunkElements?: number;
}

/** The gpujs backend: the contract's ops, plus what device it found. */
export interface GpujsBackend extends Backend {
  /** The mode that ran the probe kernel and the device behind it. */
  readonly device: DeviceInfo;
}

const NAME = "backend-gpujs";

/** Makes a gpujs backend: creates the gpu.js instance, then runs a probe kernel to learn what really runs. */
export async function createGpujsBackend(options: GpujsBackendOptions = {}): Promise<GpujsBackend> {
  const chunk = options.chunkElements ?? CHUNK_ELEMENTS;
  if (!Number.isSafeInteger(chunk) || chunk < 64 || chunk > CHUNK_ELEMENTS) {
    throw new RopekitError(
      "INVALID_OPTION",
      `chunkElements must be an integer in [64, 2^22], got ${describeValue(chunk)}`,
      "chunkElements",
    );
  }
  const ctx = GpuContext.create(options.mode ?? "gpu", chunk);
  let device: DeviceInfo;
  try {
    device = await ctx.probe();
  } catch (error) {
    ctx.dispose();
    throw error;
  }
  const cache = new RopeTableCache(options.tableCacheSize ?? 32);

  // One op at a time: kernels are resized per call, so two calls must not interleave on one kernel.
  let tail: Promise<unknown> = Promise.resolve();
  function serial<T>(op: () => Promise<T>): Promise<T> {
    const run = tail.then(() => {
      ctx.checkAlive();
      return op();
    });
    tail = run.catch(() => {});
    return run;
  }

  async function applyRope(
    x: HeadsTensor,
    rope: RopeInput,
    opts: ApplyRopeOptions = {},
    name = "x",
  ): Promise<HeadsTensor<Float32Array>> {
    const plan = planApplyRope(x, rope, opts, name);
    const src = requireFloat32(x.data, `${name}.data`, NAME);
    const { table, rows } = cache.forPlan(plan);
    const out = plan.inPlace ? src : new Float32Array(src.length);
    await rotate(ctx, src, out, plan, table, rows);
    return { data: out, shape: [...x.shape] as [number, number, number, number], layout: x.layout };
  }

  async function attention(
    q: HeadsTensor,
    k: HeadsTensor,
    v: HeadsTensor,
    opts: AttentionOptions = {},
  ): Promise<AttentionResult> {
    let plan = planAttention(q, k, v, opts);
    requireFloat32(q.data, "q.data", NAME);
    requireFloat32(k.data, "k.data", NAME);
    requireFloat32(v.data, "v.data", NAME);
    // What the caller passed: rows the kernels cannot compute exactly are recomputed from it in f64.
    const call = { q, k, v, options: opts };
    if (plan.rope) {
      // Fused RoPE rotates copies of q and k on the GPU; the caller's tensors are untouched.
      const positions = fusedRopePositions(plan);
      q = await applyRope(q, plan.rope.rope, { positions: positions.q }, "q");
      k = await applyRope(k, plan.rope.rope, { positions: positions.k }, "k");
      plan = { ...plan, q: headsDims(q, "q"), k: headsDims(k, "k") };
    }
    return attentionOnGpu(ctx, plan, q, k, v, call);
  }

  function describe(): BackendDescription {
    const ran = ctx.modesThatRan();
    const modes = ran.length > 0 ? ran.join("+") : device.mode;
    const where = device.fallback
      ? "gpu.js fallback on the CPU"
      : device.software
        ? `software rasteriser: ${device.renderer ?? "unknown"}`
        : `GPU: ${device.renderer ?? "unknown"}`;
    return {
      name: "gpujs",
      mode: `gpujs-${modes}${device.software ? " (software)" : ""}`,
      precision: "f32",
      dtypes: ["float32"],
      ops: OP_NAMES,
      pairings: ["half", "interleaved"],
      layouts: ["bshd", "bhsd"],
      threads: 1,
      notes: `${where}; cos/sin and sinusoidal tables computed on the CPU in f64 and uploaded (GPU trig is not accurate enough); attention in blocks of query rows, and the rows f32 cannot compute exactly (scores that could overflow, NaN/∞ in what a row sees, |mask| > 1e8, rows left with no key) recomputed in f64 on the CPU`,
    };
  }

  return {
    name: "gpujs",
    device,
    describe,
    ropeTable: (spec, positions, opts) => serial(async () => ropeTable(spec, positions, opts)),
    applyRope: (x, rope, opts) => serial(() => applyRope(x, rope, opts)),
    applyRopeQK: (q, k, rope, opts = {}) =>
      serial(async (): Promise<RopeQK> => {
        checkQKPair(q, k);
        // Validate both before writing either, so a bad k never leaves q half-done in place.
        planApplyRope(q, rope, opts, "q");
        planApplyRope(k, rope, opts, "k");
        requireFloat32(q.data, "q.data", NAME);
        requireFloat32(k.data, "k.data", NAME);
        return { q: await applyRope(q, rope, opts, "q"), k: await applyRope(k, rope, opts, "k") };
      }),
    sinusoidal: (positions, dim, base) => serial(async () => sinusoidalTable(positions, dim, base)),
    addSinusoidal: (x, opts = {}) =>
      serial(() => addSinusoidalOnGpu(ctx, x, requireFloat32(x?.data, "x.data", NAME), opts)),
    addLearned: (x, table, opts = {}) =>
      serial(() => addLearnedOnGpu(ctx, x, requireFloat32(x?.data, "x.data", NAME), table, opts)),
    attention: (q, k, v, opts) => serial(() => attention(q, k, v, opts)),
    linear: (x, weight, bias) => serial(() => linearOnGpu(ctx, x, weight, bias)),
    rmsNorm: (x, weight, opts) =>
      serial(async () => {
        const plan = planRmsNorm(x, weight, opts);
        requireFloat32(x.data, "x.data", NAME);
        if (weight) requireFloat32(weight.data, "weight.data", NAME);
        const out = await rmsNorm(ctx, { ...plan, x, weight });
        return "layout" in x ? { ...out, layout: x.layout } : out;
      }),
    dispose() {
      cache.clear();
      ctx.dispose();
    },
  };
}
