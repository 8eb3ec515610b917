/// <reference types="@webgpu/types" preserve="true" />
import { RopekitError } from "@ropekit/core";
import type { GpuDevice } from "./device.js";
import { BufferPool } from "./pool.js";

/**
 * WebGPU's flag values (the spec fixes them). Dawn's Node binding does not define the GPUBufferUsage,
 * GPUShaderStage and GPUMapMode globals, so the numbers are spelled out here.
 */
const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
const STAGE_COMPUTE = 4;
const MAP_READ = 1;

/** How a kernel binds a buffer. */
export type BindingKind = "read" | "rw" | "uniform";

/** A uniform struct: field names and their WGSL scalar types, in order (each 4 bytes). */
export type ParamFields = Readonly<Record<string, "u32" | "i32" | "f32">>;

/** The WGSL declaration of a uniform struct. */
export function paramStruct(name: string, fields: ParamFields): string {
  const body = Object.entries(fields)
    .map(([field, type]) => `  ${field}: ${type},`)
    .join("\n");
  return `struct ${name} {\n${body}\n}`;
}

/**
 * A storage buffer of a kernel: its WGSL name, how it is bound, and its element type (default f32; u32
 * for packed half words, two float16/bfloat16 values per word: see kernels/half-wgsl.ts).
 */
export type StorageBuffer = readonly [name: string, kind: "read" | "rw", element?: "f32" | "i32" | "u32"];

/** A kernel's bindings declared once: the WGSL declarations and the layout its pipeline is compiled with. */
export interface KernelInterface {
  readonly wgsl: string;
  readonly bindings: readonly BindingKind[];
}

/**
 * Declares a kernel's storage buffers as bindings 0, 1, … in order and its uniform `P: Params` after them,
 * so the shader's declarations and the bind group layout cannot disagree.
 */
export function kernelInterface(params: ParamFields, buffers: readonly StorageBuffer[]): KernelInterface {
  const storage = buffers.map(
    ([name, kind, element = "f32"], i) =>
      `@group(0) @binding(${i}) var<storage, ${kind === "rw" ? "read_write" : "read"}> ${name}: array<${element}>;`,
  );
  return {
    wgsl: [
      paramStruct("Params", params),
      ...storage,
      `@group(0) @binding(${buffers.length}) var<uniform> P: Params;`,
    ].join("\n"),
    bindings: [...buffers.map(([, kind]) => kind), "uniform"],
  };
}

/**
 * The entry point's signature: `wg` (workgroup id), `nwg` (workgroup count; large grids fold into x and z)
 * and the invocation's local index `lid` or, for two-dimensional workgroups, its local id `l`.
 */
export function computeMain(workgroupSize: string | number, local: "index" | "id" = "index"): string {
  const invocation =
    local === "index"
      ? "@builtin(local_invocation_index) lid: u32"
      : "@builtin(local_invocation_id) l: vec3u";
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        ${invocation}) {`;
}

/** Packs values in the order of `fields` (missing ones are 0), padded to 16 bytes. */
export function packParams(fields: ParamFields, values: Readonly<Record<string, number>>): ArrayBuffer {
  const names = Object.keys(fields);
  const bytes = Math.max(16, Math.ceil((names.length * 4) / 16) * 16);
  const buffer = new ArrayBuffer(bytes);
  const view = new DataView(buffer);
  names.forEach((name, i) => {
    const value = values[name] ?? 0;
    const type = fields[name];
    if (type === "f32") view.setFloat32(i * 4, value, true);
    else if (type === "i32") view.setInt32(i * 4, value, true);
    else view.setUint32(i * 4, value, true);
  });
  return buffer;
}

/** A compiled kernel: its pipeline and the layout its bind group must follow. */
export interface Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly bindings: readonly BindingKind[];
}

/** What a kernel call needs bound, in binding order. */
export type Binding = GPUBuffer;

/** Work recorded by one op: buffers it made, dispatches, and the buffers to read back. */
export class Job {
  readonly created: GPUBuffer[] = [];
  /** Scratch and uniform buffers from the context's pool: given back when the job ends. */
  readonly pooled: GPUBuffer[] = [];
  readonly reads: { buffer: GPUBuffer; bytes: number }[] = [];

  constructor(
    private readonly ctx: GpuContext,
    readonly encoder: GPUCommandEncoder,
  ) {}

  private make(bytes: number, usage: number, what: string): GPUBuffer {
    this.ctx.checkSize(bytes, what);
    const buffer = this.ctx.pool.take(Math.max(16, Math.ceil(bytes / 4) * 4), usage);
    this.pooled.push(buffer);
    return buffer;
  }

  /**
   * A storage buffer holding `data` (f32, i32 or u32 elements, or half bits: a Uint16Array lands as packed
   * u32 words, element i in the low half of word i/2 when i is even, the size padded to 4 bytes).
   */
  upload(data: Float32Array | Int32Array | Uint32Array | Uint16Array, what: string): GPUBuffer {
    const bytes = Math.max(16, data.byteLength);
    this.ctx.checkSize(bytes, what);
    const buffer = this.ctx.device.createBuffer({
      size: Math.ceil(bytes / 4) * 4,
      usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST,
      mappedAtCreation: true,
    });
    this.created.push(buffer);
    const range = buffer.getMappedRange();
    if (data instanceof Float32Array) new Float32Array(range).set(data);
    else if (data instanceof Int32Array) new Int32Array(range).set(data);
    else if (data instanceof Uint16Array) new Uint16Array(range).set(data);
    else new Uint32Array(range).set(data);
    buffer.unmap();
    return buffer;
  }

  /** A storage buffer of `elements` 4-byte values (zeros). */
  scratch(elements: number, what: string): GPUBuffer {
    const buffer = this.make(elements * 4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST, what);
    // A pooled buffer holds an earlier job's values.
    this.encoder.clearBuffer(buffer);
    return buffer;
  }

  /** A uniform buffer with packed parameters. */
  uniform(data: ArrayBuffer): GPUBuffer {
    const buffer = this.make(data.byteLength, USAGE.UNIFORM | USAGE.COPY_DST, "params");
    this.ctx.device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }

  /** Records one dispatch of `kernel` over `workgroups` workgroups (split over x and y when needed). */
  dispatch(kernel: Kernel, buffers: readonly Binding[], workgroups: number, y = 1): void {
    if (workgroups === 0 || y === 0) return;
    const group = this.ctx.device.createBindGroup({
      layout: kernel.layout,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const pass = this.encoder.beginComputePass();
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, group);
    const max = this.ctx.gpu.limits.maxWorkgroupsPerDimension;
    if (y > max) {
      throw new RopekitError(
        "TOO_LARGE",
        `a dispatch of ${y} workgroup rows exceeds the device's ${max}`,
        "shape",
      );
    }
    if (workgroups <= max) pass.dispatchWorkgroups(workgroups, y);
    else {
      // Kernels rebuild the linear index from num_workgroups: x·y·z workgroups cover at least `workgroups`.
      const x = max;
      const rows = Math.ceil(workgroups / x);
      if (rows * y > max) {
        throw new RopekitError(
          "TOO_LARGE",
          `${workgroups} workgroups exceed the device's dispatch limits`,
          "shape",
        );
      }
      pass.dispatchWorkgroups(x, y, rows);
    }
    pass.end();
  }

  /** Reads `elements` f32 values of `buffer` back when the job completes. */
  read(buffer: GPUBuffer, elements: number): void {
    this.reads.push({ buffer, bytes: elements * 4 });
  }

  /**
   * Reads `count` half values (packed u32 words) of `buffer` back when the job completes: the result
   * comes as a Float32Array of the words; `halvesOf` views it as the Uint16Array of bits.
   */
  readHalves(buffer: GPUBuffer, count: number): void {
    this.reads.push({ buffer, bytes: Math.ceil(count / 2) * 4 });
  }
}

/**
 * One device, its kernels and the rules every op follows: work is recorded synchronously into one command
 * buffer between error scopes (so concurrent calls cannot mix their scopes), submitted, and read back;
 * every buffer a call made is destroyed when it ends. Validation errors, out-of-memory and device loss
 * come back as `RopekitError`s, never as a hang or garbage.
 */
export class GpuContext {
  private readonly kernels = new Map<string, Promise<Kernel>>();
  private disposed = false;
  /** Scratch, uniform and staging buffers kept across calls (see `BufferPool`). */
  readonly pool = new BufferPool(() => this.device);
  /** Readbacks so far: buffers mapped and bytes read (resident tensors' `tensorReads` counted by them). */
  readonly stats = { readbacks: 0, readbackBytes: 0, tensorReads: 0 };
  /** Elements one binding may hold (the device's limit, or less for tests). */
  readonly maxBindingElements: number;

  constructor(
    readonly gpu: GpuDevice,
    maxBindingElements?: number,
  ) {
    this.maxBindingElements = Math.min(
      gpu.limits.maxBindingElements,
      maxBindingElements ?? Number.POSITIVE_INFINITY,
    );
  }

  get device(): GPUDevice {
    return this.gpu.device;
  }

  checkAlive(): void {
    if (this.disposed) throw new RopekitError("DISPOSED", "the webgpu backend was disposed", "backend");
    if (this.gpu.lost !== undefined) {
      throw new RopekitError(
        "BACKEND_UNAVAILABLE",
        `the WebGPU device was lost (${this.gpu.lost})`,
        "backend",
      );
    }
  }

  checkSize(bytes: number, what: string): void {
    const limit = Math.min(this.maxBindingElements * 4, this.gpu.limits.maxBufferSize);
    if (bytes > limit) {
      throw new RopekitError(
        "TOO_LARGE",
        `${what} needs a ${bytes}-byte GPU buffer; this adapter binds at most ${limit} bytes`,
        what,
      );
    }
  }

  /** The kernel for `key`, compiled once from `code()`. */
  kernel(key: string, code: () => string, bindings: readonly BindingKind[]): Promise<Kernel> {
    this.checkAlive();
    let k = this.kernels.get(key);
    if (!k) {
      k = this.compile(key, code(), bindings);
      this.kernels.set(key, k);
      // A failed compile is not cached: the next call reports it again.
      k.catch(() => this.kernels.delete(key));
    }
    return k;
  }

  private async compile(key: string, code: string, bindings: readonly BindingKind[]): Promise<Kernel> {
    const device = this.device;
    const layout = device.createBindGroupLayout({
      entries: bindings.map((kind, binding) => ({
        binding,
        visibility: STAGE_COMPUTE,
        buffer: { type: kind === "read" ? "read-only-storage" : kind === "rw" ? "storage" : "uniform" },
      })),
    });
    try {
      const module = device.createShaderModule({ code, label: key });
      const pipeline = await device.createComputePipelineAsync({
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: "main" },
        label: key,
      });
      return { pipeline, layout, bindings };
    } catch (error) {
      this.checkAlive();
      throw new RopekitError(
        "BACKEND_UNAVAILABLE",
        `WebGPU could not compile kernel ${key}: ${error instanceof Error ? error.message : String(error)}`,
        "backend",
      );
    }
  }

  /**
   * Records the work of one op with `record` (synchronously), submits it and resolves to the buffers it
   * asked to read, as Float32Arrays the caller owns.
   */
  async run(record: (job: Job) => void): Promise<Float32Array[]> {
    this.checkAlive();
    const device = this.device;
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    const job = new Job(this, device.createCommandEncoder());
    const staging: GPUBuffer[] = [];
    let recorded: unknown;
    try {
      record(job);
      for (const { buffer, bytes } of job.reads) {
        const s = this.pool.take(Math.max(16, Math.ceil(bytes / 4) * 4), USAGE.MAP_READ | USAGE.COPY_DST);
        staging.push(s);
        job.encoder.copyBufferToBuffer(buffer, 0, s, 0, Math.ceil(bytes / 4) * 4);
      }
      device.queue.submit([job.encoder.finish()]);
    } catch (error) {
      recorded = error;
    }
    const validation = device.popErrorScope();
    const memory = device.popErrorScope();
    // Pooled buffers go back after a call that succeeded; after a failure they are destroyed.
    const release = (ok: boolean) => {
      for (const b of job.created) b.destroy();
      for (const b of [...job.pooled, ...staging]) {
        if (ok) this.pool.give(b);
        else b.destroy();
      }
    };
    if (recorded !== undefined) {
      release(false);
      throw recorded;
    }
    let ok = false;
    try {
      const [v, m] = await Promise.all([validation, memory]);
      if (m) throw new RopekitError("OUT_OF_MEMORY", `the GPU ran out of memory: ${m.message}`, "backend");
      if (v)
        throw new RopekitError("BACKEND_UNAVAILABLE", `WebGPU validation error: ${v.message}`, "backend");
      const out: Float32Array[] = [];
      for (const [i, s] of staging.entries()) {
        await s.mapAsync(MAP_READ);
        const bytes = (job.reads[i] as { bytes: number }).bytes;
        out.push(new Float32Array(s.getMappedRange(0, Math.ceil(bytes / 4) * 4).slice(0, bytes)));
        s.unmap();
        this.stats.readbacks++;
        this.stats.readbackBytes += bytes;
      }
      ok = true;
      return out;
    } catch (error) {
      if (error instanceof RopekitError) throw error;
      this.checkAlive();
      throw new RopekitError(
        "BACKEND_UNAVAILABLE",
        `WebGPU failed: ${error instanceof Error ? error.message : String(error)}`,
        "backend",
      );
    } finally {
      if (!this.disposed) release(ok);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kernels.clear();
    this.pool.clear();
    try {
      this.device.destroy();
    } catch {
      // Already lost: nothing to release.
    }
  }
}

/** Next power of two ≥ n (at least `min`): kernels are specialised per bucket, not per size. */
export function bucket(n: number, min = 4): number {
  let p = min;
  while (p < n) p *= 2;
  return p;
}

/** WGSL that rebuilds a linear workgroup index from a dispatch split over x and z. */
export const LINEAR_WORKGROUP = "(wg.z * nwg.x + wg.x)";
