import { RopekitError } from "@ropekit/core";
import { GPU } from "gpu.js";
import { type DeviceInfo, KERNEL_MODES, deviceOf } from "./device.js";

/** The gpu.js modes a user can ask for. `"gpu"` lets gpu.js pick its best GL mode (headlessgl, webgl2, webgl). */
export type GpujsMode = "gpu" | "webgl2" | "webgl" | "headlessgl" | "webgpu" | "webasm" | "cpu";

/** What a compiled gpu.js kernel looks like to us: callable, resizable, and it names the class that ran. */
export interface GpuKernel {
  (...args: KernelArgument[]): unknown;
  setOutput(output: number[]): unknown;
  readonly kernel: { readonly constructor: { readonly name: string } };
}

/** A GPU-resident result of a pipeline kernel (a texture or a WebGPU buffer), readable back to the CPU. */
export interface GpuResident {
  toArray(): unknown;
  delete?(): void;
}

export type KernelArgument = Float32Array | number | GpuResident;

/**
 * Kernel source: gpu.js reads its text and translates it to GLSL, WGSL or wasm. A function in the
 * TypeScript sources; in the published dist/, the function's text as a string (scripts/kernel-strings.mjs),
 * so that a consumer's minifier cannot rewrite it into code gpu.js cannot type.
 */
export type KernelSource = ((this: KernelThis, ...args: never[]) => number) | string;

/** `this` inside a kernel. */
export interface KernelThis {
  readonly thread: { readonly x: number };
}

/** The largest index a kernel computes exactly: kernel arithmetic is f32, exact for integers below 2^24. */
export const MAX_KERNEL_ELEMENTS = 2 ** 24;
/** Default elements per kernel call; larger work is split into calls of at most this many elements. */
export const CHUNK_ELEMENTS = 2 ** 22;

/** The probe: a kernel small enough to run in every mode. */
function probeKernel(this: KernelThis, a: Float32Array): number {
  return (a[this.thread.x] as number) * 2 + 1;
}

/**
 * One gpu.js instance and the kernels compiled on it. Every kernel is compiled once with dynamic output
 * and dynamic arguments, so one compiled shader serves every shape; f32 ("single") textures and highp.
 */
export class GpuContext {
  private readonly gpu: GPU;
  private readonly kernels = new Map<string, GpuKernel>();
  /** Kernel classes that actually ran, so the description cannot claim a mode that did not run. */
  private readonly ranClasses = new Set<string>();
  private disposed = false;
  /**
   * Keep pipeline results on the device? Only for GPU modes: in gpu.js's cpu mode a pipeline result is
   * recycled across calls of different sizes, and on the CPU there is no transfer to save anyway.
   */
  private resident = false;
  /** The end of the queue of kernel calls: one at a time (see `serial`). */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly requested: GpujsMode,
    /** Largest input or output of one kernel call, in elements: larger work is split into several calls. */
    readonly chunk: number,
    gpu: GPU,
  ) {
    this.gpu = gpu;
  }

  /** Creates the gpu.js instance in the requested mode. */
  static create(mode: GpujsMode, chunk = CHUNK_ELEMENTS): GpuContext {
    try {
      return new GpuContext(mode, chunk, new GPU({ mode }));
    } catch (error) {
      throw new RopekitError(
        "BACKEND_UNAVAILABLE",
        `gpu.js cannot run in mode ${JSON.stringify(mode)} here: ${error instanceof Error ? error.message : String(error)}`,
        "mode",
      );
    }
  }

  /** The kernel named `name`, compiled on first use. `pipeline` keeps the result on the GPU. */
  kernel(
    name: string,
    source: KernelSource,
    options: { pipeline?: boolean; loops?: number } = {},
  ): GpuKernel {
    this.checkAlive();
    let k = this.kernels.get(name);
    if (!k) {
      const create = this.gpu.createKernel as unknown as (
        source: KernelSource,
        settings: object,
      ) => GpuKernel;
      k = create.call(this.gpu, source, {
        output: [1],
        dynamicOutput: true,
        dynamicArguments: true,
        precision: "single",
        tactic: "precision",
        pipeline: options.pipeline === true && this.resident,
        immutable: false,
        loopMaxIterations: options.loops ?? 1,
      });
      this.kernels.set(name, k);
    }
    return k;
  }

  /** Runs `kernel` over `size` output elements; resolves to the result (awaited, for WebGPU's promises). */
  async run(kernel: GpuKernel, size: number, ...args: KernelArgument[]): Promise<unknown> {
    this.checkAlive();
    kernel.setOutput([size]);
    const result = await kernel(...args);
    this.ranClasses.add(kernel.kernel.constructor.name);
    return result;
  }

  /** Runs a kernel and returns its f32 result (a copy the caller owns is not guaranteed: copy it out). */
  async read(kernel: GpuKernel, size: number, ...args: KernelArgument[]): Promise<Float32Array> {
    return toFloat32(await this.run(kernel, size, ...args), size);
  }

  /** The mode of every kernel that ran so far, e.g. "webgl2" or "webgl2+cpu" if one kernel degraded. */
  modesThatRan(): string[] {
    return [...this.ranClasses].map((c) => KERNEL_MODES[c] ?? c);
  }

  /** Compiles and runs a tiny kernel to learn which mode really runs and on what device. */
  async probe(): Promise<DeviceInfo> {
    const k = this.kernel("probe", probeKernel);
    const out = await this.read(k, 4, new Float32Array([0, 1, 2, 3]));
    if (out[3] !== 7) {
      throw new RopekitError(
        "BACKEND_UNAVAILABLE",
        `gpu.js probe kernel computed ${out[3]} instead of 7`,
        "mode",
      );
    }
    const device = await deviceOf(
      k.kernel.constructor.name,
      (this.gpu as unknown as { context?: unknown }).context,
    );
    this.resident = !device.fallback;
    return device;
  }

  /**
   * Runs `op` after every op queued before it has settled. Kernels are resized per call and a pipeline
   * kernel's output texture is reused by its next call, so two ops must never interleave on one context.
   */
  serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      this.checkAlive();
      return op();
    });
    this.tail = run.catch(() => {});
    return run;
  }

  /** Releases every kernel, texture and the GL/WebGPU context. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kernels.clear();
    void Promise.resolve(this.gpu.destroy()).catch(() => {});
  }

  checkAlive(): void {
    if (this.disposed) throw new RopekitError("DISPOSED", "the gpujs backend was disposed", "backend");
  }
}

/** A kernel result as Float32Array: pipeline handles are read back, numeric arrays converted. */
export async function toFloat32(result: unknown, size: number): Promise<Float32Array> {
  let value: unknown = result;
  if (value !== null && typeof value === "object" && "toArray" in value) {
    value = await (value as GpuResident).toArray();
  }
  if (value instanceof Float32Array) return value.length === size ? value : value.subarray(0, size);
  if (Array.isArray(value) || ArrayBuffer.isView(value)) return Float32Array.from(value as ArrayLike<number>);
  throw new RopekitError("BACKEND_UNAVAILABLE", "gpu.js returned no data for a kernel", "backend");
}
