import {
  type Backend,
  type BackendDescription,
  type Kernels,
  EVERY_OP_AND_LAYOUT,
  RopekitError,
  checkOptions,
  defineBackend,
} from "@ropekit/core";
import { addRows } from "./absolute/add-rows.js";
import { attention } from "./attention/attention.js";
import type { DeviceInfo } from "./device.js";
import { CHUNK_ELEMENTS, GpuContext, type GpujsMode } from "./gpu.js";
import { linear } from "./linear/linear.js";
import { rmsNorm } from "./norm/rms-norm.js";
import { applyRope } from "./rope/apply.js";

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

/**
 * Makes a gpujs backend: creates the gpu.js instance, runs a probe kernel to learn what really runs,
 * then hands its kernels to core's `defineBackend`, which plans and validates every call, composes
 * applyRopeQK and fused RoPE + attention, and recomputes in f64 the attention rows the kernels flag.
 */
export async function createGpujsBackend(options: GpujsBackendOptions = {}): Promise<GpujsBackend> {
  checkOptions(options, ["mode", "tableCacheSize", "chunkElements"]);
  const chunk = options.chunkElements ?? CHUNK_ELEMENTS;
  if (!Number.isSafeInteger(chunk) || chunk < 64 || chunk > CHUNK_ELEMENTS) {
    throw new RopekitError(
      "INVALID_OPTION",
      `chunkElements must be an integer in [64, 2^22], got ${typeof chunk === "number" ? chunk : typeof chunk}`,
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
  // One kernel at a time on the context (see GpuContext.serial).
  const one =
    <P, R>(kernel: (ctx: GpuContext, plan: P) => Promise<R>) =>
    (plan: P): Promise<R> =>
      ctx.serial(() => kernel(ctx, plan));
  const kernels: Kernels = {
    applyRope: one(applyRope),
    addRows: one(addRows),
    attention: one(attention),
    linear: one(linear),
    rmsNorm: one(rmsNorm),
  };
  const describe = () => describeGpujs(ctx, device);
  const backend = defineBackend({
    name: "gpujs",
    describe,
    kernels,
    // GLSL has no reliable −∞: a row the kernels report fully masked is rechecked in f64 too.
    recheckMaskedRows: true,
    dispose: () => ctx.dispose(),
    ...(options.tableCacheSize !== undefined ? { tableCacheSize: options.tableCacheSize } : {}),
  });
  // defineBackend reads describe() once; ours is asked again so it names every mode that ran so far.
  return { ...backend, describe, device };
}

/** The description: the modes that really ran (a kernel that degraded shows as "webgl2+cpu"), the device. */
function describeGpujs(ctx: GpuContext, device: DeviceInfo): BackendDescription {
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
    // float32 only: gpu.js textures hold f32, so float16/bfloat16 would need a CPU conversion pass each
    // way around every kernel — more time than the halved transfer saves. Such tensors get INVALID_DTYPE.
    dtypes: ["float32"],
    ...EVERY_OP_AND_LAYOUT,
    threads: 1,
    notes: [
      where,
      "float32 data only (textures are f32; converting float16/bfloat16 on the CPU would cost more than it saves)",
      "cos/sin and sinusoidal tables computed on the CPU in f64 and uploaded (GPU trig is not accurate enough)",
      "RoPE rows holding NaN/∞ rotated on the CPU",
      "attention in blocks of query rows, with the rows f32 cannot compute exactly (scores that could overflow, NaN/∞ in what a row sees, |mask| > 1e8, rows left with no key) flagged on the CPU and recomputed in f64 by core",
      "rmsNorm rows scaled by a power of two on the CPU, sums of squares and scaling on the GPU, 1/√(mean + eps) in f64; rows with NaN/∞, all zeros or only subnormal values computed in f64 on the CPU",
    ].join("; "),
  };
}
