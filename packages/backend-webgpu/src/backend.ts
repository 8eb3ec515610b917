import {
  type Backend,
  type BackendDescription,
  type Kernels,
  EVERY_OP_AND_LAYOUT,
  RopekitError,
  defineBackend,
  describeValue,
} from "@ropekit/core";
import { GpuContext } from "./context.js";
import {
  type AdapterDescription,
  type DeviceOptions,
  adapterName,
  adapterShortName,
  createGpuDevice,
} from "./device.js";
import { addRowsOnGpu } from "./kernels/absolute.js";
import { type GpuData, outputArray } from "./kernels/half-wgsl.js";
import { type AttentionTuning, attentionOnGpu } from "./kernels/attention.js";
import { linearOnGpu } from "./kernels/linear.js";
import { rmsNormOnGpu } from "./kernels/rms-norm.js";
import { ropeOnGpu } from "./kernels/rope.js";
import { type WebgpuResidentOps, withResidents } from "./resident-backend.js";
import { residentKernels } from "./resident-kernels.js";
import { Residents } from "./residents.js";

/** Options of `createWebgpuBackend`. */
export interface WebgpuBackendOptions extends DeviceOptions {
  /** How many RoPE tables to keep for reuse across calls. Default 32. */
  tableCacheSize?: number;
  /**
   * Most f32 elements one GPU buffer binding may hold; default the device's limit. Larger work is split
   * into chunks (tests set it small to run the chunked paths).
   */
  maxBindingElements?: number;
  /**
   * Attention kernels: "auto" (default: split-K decode for few query rows per kv head against ≥ 256
   * keys, flash otherwise), "flash" always, or "split" (split-K wherever the rows fit it).
   */
  attentionPath?: AttentionTuning["path"];
  /** Keys per split-K chunk (64, 128 or 256); default from the cache length. */
  splitKeys?: number;
  /**
   * Prefill kernel for head sizes ≤ 128 (larger ones always take "looped"): "auto" (default: "lanes" on
   * software adapters, "tiled" on hardware ones), "lanes" (rows in vec4 registers, no workgroup memory:
   * fastest on CPU-emulated GPUs), "tiled" (K/V tiles in workgroup memory) or "looped" (generic kernel).
   */
  flashKernel?: AttentionTuning["flashKernel"];
}

/**
 * The webgpu backend: the contract's ops, resident tensors (`tensor()`: upload once, chain ops on the
 * GPU, `read()` on request) and the adapter it runs on.
 */
export interface WebgpuBackend extends Omit<Backend, keyof WebgpuResidentOps>, WebgpuResidentOps {
  /** The adapter, as WebGPU describes it. */
  readonly adapter: AdapterDescription;
}

function checkOptions(options: WebgpuBackendOptions): void {
  const max = options.maxBindingElements;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 256)) {
    throw new RopekitError(
      "INVALID_OPTION",
      `maxBindingElements must be an integer ≥ 256, got ${describeValue(max)}`,
      "maxBindingElements",
    );
  }
  const split = options.splitKeys;
  if (split !== undefined && ![64, 128, 256].includes(split)) {
    throw new RopekitError(
      "INVALID_OPTION",
      `splitKeys must be 64, 128 or 256, got ${describeValue(split)}`,
      "splitKeys",
    );
  }
  const fk = options.flashKernel;
  if (fk !== undefined && !["auto", "lanes", "tiled", "looped"].includes(fk)) {
    throw new RopekitError(
      "INVALID_OPTION",
      `flashKernel must be "auto", "lanes", "tiled" or "looped", got ${describeValue(fk)}`,
      "flashKernel",
    );
  }
  const path = options.attentionPath;
  if (path !== undefined && !["auto", "flash", "split"].includes(path)) {
    throw new RopekitError(
      "INVALID_OPTION",
      `attentionPath must be "auto", "flash" or "split", got ${describeValue(path)}`,
      "attentionPath",
    );
  }
}

/** The mode string, e.g. "webgpu (swiftshader, software)" or "webgpu (ampere)". */
export function modeOf(adapter: AdapterDescription): string {
  return `webgpu (${adapterShortName(adapter)}${adapter.software ? ", software" : ""})`;
}

/**
 * Makes a webgpu backend: finds the adapter (`navigator.gpu` in browsers, the optional `webgpu` package
 * in Node), creates a device with the adapter's highest limits, and hands core the kernels. This is the
 * one file that knows the `Backend` contract: core plans and validates every call (contract v2) and
 * each kernel in `kernels/` receives its plan.
 */
export async function createWebgpuBackend(options: WebgpuBackendOptions = {}): Promise<WebgpuBackend> {
  checkOptions(options);
  const gpu = await createGpuDevice(options);
  const ctx = new GpuContext(gpu, options.maxBindingElements);
  const tuning: AttentionTuning = {
    path: options.attentionPath ?? "auto",
    splitKeys: options.splitKeys,
    splitFrom: 256,
    flashKernel: options.flashKernel ?? "auto",
  };
  const { adapter } = gpu;

  const hostKernels: Kernels = {
    async applyRope(plan) {
      ctx.checkAlive();
      const data = plan.x.data as GpuData;
      const [rotated] = await ropeOnGpu(ctx, [{ plan, data, table: plan.table, rows: plan.rows }]);
      const out = plan.inPlace ? data : outputArray(plan.x.dtype, data.length);
      out.set(rotated as GpuData);
      return {
        data: out,
        shape: [...plan.x.shape] as [number, number, number, number],
        layout: plan.x.layout,
      };
    },
    async addRows(plan) {
      ctx.checkAlive();
      const sum = await addRowsOnGpu(ctx, plan);
      const src = plan.x.data as GpuData;
      if (plan.inPlace) src.set(sum);
      return { data: plan.inPlace ? src : sum, shape: [...plan.dims] as [number, number, number] };
    },
    async attention(plan) {
      ctx.checkAlive();
      const { output, lse } = await attentionOnGpu(ctx, plan, tuning);
      const { batch, qLen, qHeads, vHeadDim } = plan;
      const layout = plan.qTensor.layout;
      const shape: [number, number, number, number] =
        layout === "bshd" ? [batch, qLen, qHeads, vHeadDim] : [batch, qHeads, qLen, vHeadDim];
      return { output: { data: output, shape, layout }, lse };
    },
    async linear(plan) {
      ctx.checkAlive();
      return { data: await linearOnGpu(ctx, plan), shape: [...plan.outShape] };
    },
    async rmsNorm(plan) {
      ctx.checkAlive();
      const out = await rmsNormOnGpu(ctx, plan);
      const src = plan.x.data as GpuData;
      if (plan.inPlace) src.set(out);
      return { data: plan.inPlace ? src : out, shape: [...plan.x.shape] };
    },
  };

  // Resident tensors: their buffers bound as they are, outputs left on the GPU (see resident-kernels.ts).
  const residents = new Residents(ctx);
  const kernels = residentKernels(ctx, residents, hostKernels, tuning);

  function describe(): BackendDescription {
    const flags = [
      adapter.isFallbackAdapter ? "fallback adapter" : undefined,
      adapter.software ? "software renderer: runs on the CPU" : "hardware",
    ].filter(Boolean);
    return {
      name: "webgpu",
      mode: modeOf(adapter),
      precision: "f32",
      dtypes: ["float32", "float16", "bfloat16"],
      ...EVERY_OP_AND_LAYOUT,
      threads: 1,
      notes:
        `WebGPU through ${adapter.runtime} on ${adapterName(adapter)} [${flags.join(", ")}]; WGSL compute kernels in f32 ` +
        "(flash attention with K/V tiles in workgroup memory, split-K decode, tiled linear); cos/sin and sinusoidal " +
        "tables computed on the CPU in f64 and uploaded; attention rows f32 cannot compute exactly (overflowing " +
        "scores, NaN/∞ inputs, huge masks, rows that see no key) are recomputed in f64 on the CPU; float16 and " +
        "bfloat16 tensors (q, k, v and KV caches of independent dtypes, linear weights, norm weights, learned " +
        "tables) stay 16-bit on the GPU, two per u32 word, decoded in the kernels (float16 by unpack2x16float, " +
        "bfloat16 by a shift), computed and accumulated in f32, and half outputs rounded to nearest even in " +
        `integer arithmetic on the GPU — the same kernels whether or not the adapter has shader-f16 (this one ${adapter.shaderF16 ? "has" : "has not"}; no f16 arithmetic is used)`,
    };
  }

  const backend = defineBackend({
    name: "webgpu",
    describe,
    kernels,
    dispose: () => {
      residents.disposeAll();
      ctx.dispose();
    },
    ownsResident: (data) => residents.check(data, "tensor"),
    // The kernels remove keys whose mask lies far below the row's top: rows left with none are rechecked in f64.
    recheckMaskedRows: true,
    ...(options.tableCacheSize !== undefined ? { tableCacheSize: options.tableCacheSize } : {}),
  });
  return withResidents(Object.assign(backend, { adapter }), ctx, residents);
}
