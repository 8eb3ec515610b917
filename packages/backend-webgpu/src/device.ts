/// <reference types="@webgpu/types" preserve="true" />
import { RopekitError } from "@ropekit/core";

/** Renderer names of software implementations: a "GPU" that really computes on the CPU. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|swrast|warp|microsoft basic render|software/i;

/** What adapter the backend runs on, as WebGPU reports it. */
export interface AdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** WebGPU's own flag: the adapter is a fallback (typically software) implementation. */
  readonly isFallbackAdapter: boolean;
  /** True for a fallback adapter or a known software renderer (SwiftShader, lavapipe/llvmpipe, WARP). */
  readonly software: boolean;
  /** Where the WebGPU implementation came from: the browser's `navigator.gpu`, Dawn's Node binding, or the caller. */
  readonly runtime: "navigator.gpu" | "webgpu (Dawn, Node)" | "caller";
  /** `shader-f16` offered by the adapter. */
  readonly shaderF16: boolean;
  /** `subgroups` offered by the adapter. */
  readonly subgroups: boolean;
}

/** How to find a device. */
export interface DeviceOptions {
  /** A `GPU` object to use instead of `navigator.gpu` or the `webgpu` package. */
  gpu?: GPU;
  /** Passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Ask for the fallback (software) adapter. */
  forceFallbackAdapter?: boolean;
  /** Options for Dawn's `create()` in Node, e.g. `["backend=vulkan"]`. Default none. */
  dawnOptions?: string[];
}

/** The limits the kernels read, after the device was created with the adapter's best. */
export interface DeviceLimits {
  /** Largest storage buffer binding, in f32 elements. */
  readonly maxBindingElements: number;
  readonly maxBufferSize: number;
  readonly maxWorkgroupStorage: number;
  readonly maxInvocations: number;
  readonly maxWorkgroupsPerDimension: number;
  readonly maxStorageBuffersPerStage: number;
}

/** A device and what was learned about it. */
export interface GpuDevice {
  readonly device: GPUDevice;
  /**
   * The GPU instance and adapter, held for the device's lifetime: Dawn's Node binding tears down its
   * instance when the `GPU` object is garbage-collected, and a device outliving it crashes the process.
   */
  readonly keepAlive: readonly [GPU, GPUAdapter];
  readonly adapter: AdapterDescription;
  readonly limits: DeviceLimits;
  /** Set once the device is lost (after dispose, a driver reset, out of memory): why. */
  lost: string | undefined;
}

interface DawnModule {
  create(options: string[]): GPU;
}

/** Dawn's Node binding, loaded only when asked for: users who never install `webgpu` never load it. */
async function dawnGpu(options: string[]): Promise<GPU | undefined> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!proc?.versions?.node) return undefined;
  // A computed specifier: bundlers leave it alone, and browsers never reach this line. webpackIgnore:
  // webpack would otherwise warn "Critical dependency: the request of a dependency is an expression".
  const specifier = ["web", "gpu"].join("");
  let mod: DawnModule;
  try {
    mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as DawnModule;
  } catch (error) {
    throw new RopekitError(
      "BACKEND_UNAVAILABLE",
      `WebGPU in Node needs the optional peer dependency \`webgpu\` (Dawn's Node binding, npm install webgpu@^0.6.2): ${error instanceof Error ? error.message : String(error)}`,
      "backend",
    );
  }
  return mod.create(options);
}

/** The GPU object of this runtime: `navigator.gpu` in browsers, Dawn in Node. */
async function findGpu(
  options: DeviceOptions,
): Promise<{ gpu: GPU; runtime: AdapterDescription["runtime"] }> {
  if (options.gpu) return { gpu: options.gpu, runtime: "caller" };
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, runtime: "navigator.gpu" };
  const dawn = await dawnGpu(options.dawnOptions ?? []);
  if (dawn) return { gpu: dawn, runtime: "webgpu (Dawn, Node)" };
  throw new RopekitError("BACKEND_UNAVAILABLE", "this runtime has no WebGPU (no navigator.gpu)", "backend");
}

function describeAdapter(adapter: GPUAdapter, runtime: AdapterDescription["runtime"]): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fallback =
    info.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const vendor = info.vendor ?? "";
  const architecture = info.architecture ?? "";
  const device = info.device ?? "";
  const description = info.description ?? "";
  const isFallbackAdapter = fallback === true;
  return {
    vendor,
    architecture,
    device,
    description,
    isFallbackAdapter,
    software: isFallbackAdapter || SOFTWARE.test(`${vendor} ${architecture} ${device} ${description}`),
    runtime,
    shaderF16: adapter.features.has("shader-f16"),
    subgroups: adapter.features.has("subgroups"),
  };
}

const LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

/**
 * Finds an adapter and creates a device with the adapter's highest limits for the ones the kernels use
 * (binding and buffer size, workgroup memory and size), so large tensors need no chunking where the
 * hardware allows it.
 */
export async function createGpuDevice(options: DeviceOptions = {}): Promise<GpuDevice> {
  const { gpu, runtime } = await findGpu(options);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({
      ...(options.powerPreference ? { powerPreference: options.powerPreference } : {}),
      ...(options.forceFallbackAdapter ? { forceFallbackAdapter: true } : {}),
    });
  } catch (error) {
    throw new RopekitError(
      "BACKEND_UNAVAILABLE",
      `WebGPU requestAdapter failed: ${error instanceof Error ? error.message : String(error)}`,
      "backend",
    );
  }
  if (!adapter) {
    throw new RopekitError(
      "BACKEND_UNAVAILABLE",
      `WebGPU (${runtime}) offers no adapter here${runtime === "webgpu (Dawn, Node)" ? " (Dawn needs a Vulkan driver: libvulkan1 and a GPU driver, or SwiftShader's ICD through VK_ICD_FILENAMES)" : ""}`,
      "backend",
    );
  }
  const described = describeAdapter(adapter, runtime);
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof value === "number") requiredLimits[name] = value;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits });
  } catch (error) {
    throw new RopekitError(
      "BACKEND_UNAVAILABLE",
      `WebGPU requestDevice failed: ${error instanceof Error ? error.message : String(error)}`,
      "backend",
    );
  }
  const l = device.limits;
  const result: GpuDevice = {
    device,
    keepAlive: [gpu, adapter],
    adapter: described,
    limits: {
      maxBindingElements: Math.floor(Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize) / 4),
      maxBufferSize: l.maxBufferSize,
      maxWorkgroupStorage: l.maxComputeWorkgroupStorageSize,
      maxInvocations: Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX),
      maxWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerStage: l.maxStorageBuffersPerShaderStage,
    },
    lost: undefined,
  };
  void device.lost.then((info) => {
    result.lost = `${info.reason}${info.message ? `: ${info.message}` : ""}`;
  });
  return result;
}

/** A one-line name of the adapter, e.g. "google swiftshader (SwiftShader driver 5.0.0)". */
export function adapterName(a: AdapterDescription): string {
  const main = [a.vendor, a.architecture].filter(Boolean).join(" ") || a.device || "unknown adapter";
  const detail = a.description && a.description !== main ? ` (${a.description})` : "";
  return `${main}${detail}`;
}

/** The short name used in the mode string: the architecture or vendor, e.g. "swiftshader". */
export function adapterShortName(a: AdapterDescription): string {
  return (a.architecture || a.vendor || a.device || a.description || "unknown").toLowerCase();
}
