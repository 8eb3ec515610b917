/**
 * What really runs: the gpu.js mode read from the class of a kernel that ran, and the device behind it
 * (GL renderer, the GL driver headless-gl loaded, or the WebGPU adapter), software or not.
 */

/** Kernel classes of gpu.js, by the mode they implement. */
export const KERNEL_MODES: Readonly<Record<string, string>> = {
  WebGL2Kernel: "webgl2",
  WebGLKernel: "webgl",
  HeadlessGLKernel: "headlessgl",
  WebGPUKernel: "webgpu",
  WebAssemblyKernel: "webasm",
  CPUKernel: "cpu",
};

/** Renderer names of software rasterisers: a "GPU" mode on one of these runs on the CPU. */
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|swrast|lavapipe|lvp|software|basic render/i;

/** What ran: the gpu.js mode (from the kernel class) and the device behind it. */
export interface DeviceInfo {
  /** gpu.js mode that really ran, read from the kernel class: webgl2, headlessgl, webgpu, webasm, cpu… */
  readonly mode: string;
  /** Renderer, adapter or driver name; undefined when the mode has none or hides it. */
  readonly renderer: string | undefined;
  /** True when the work runs on the CPU: gpu.js's webasm/cpu fallbacks, or a software rasteriser. */
  readonly software: boolean;
  /** gpu.js's fallback modes (webasm, cpu) rather than a GPU API. */
  readonly fallback: boolean;
}

interface GlContext {
  getParameter(name: number): unknown;
  getExtension(name: string): { UNMASKED_RENDERER_WEBGL?: number } | null;
  readonly RENDERER: number;
}

function glRenderer(context: unknown): string | undefined {
  if (context === null || typeof context !== "object" || !("getParameter" in context)) return undefined;
  const gl = context as GlContext;
  try {
    const debug = gl.getExtension("WEBGL_debug_renderer_info");
    const unmasked = debug?.UNMASKED_RENDERER_WEBGL;
    const name = unmasked !== undefined ? gl.getParameter(unmasked) : gl.getParameter(gl.RENDERER);
    return typeof name === "string" ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The GL driver that headless-gl loaded into this Node process, read from /proc/self/maps on Linux.
 * headless-gl's own RENDERER string is just "ANGLE" and it hides WEBGL_debug_renderer_info, so the loaded
 * driver library is the only honest answer (Mesa's swrast_dri.so under Xvfb, libnvidia-glcore with an
 * NVIDIA driver). Undefined elsewhere.
 */
function nodeGlDriver(): string | undefined {
  const proc = (
    globalThis as {
      process?: { platform?: string; getBuiltinModule?: (id: string) => unknown };
    }
  ).process;
  if (proc?.platform !== "linux" || typeof proc.getBuiltinModule !== "function") return undefined;
  const fs = proc.getBuiltinModule("node:fs") as { readFileSync(path: string, encoding: "utf8"): string };
  try {
    const libraries = new Set<string>();
    for (const line of fs.readFileSync("/proc/self/maps", "utf8").split("\n")) {
      const path = line.split(/\s+/)[5] ?? "";
      if (/_dri\.so|libnvidia-glcore|libGLX_nvidia|libEGL_nvidia|libvulkan_/.test(path)) {
        libraries.add(path.slice(path.lastIndexOf("/") + 1));
      }
    }
    return libraries.size > 0 ? [...libraries].sort().join(", ") : undefined;
  } catch {
    return undefined;
  }
}

interface AdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
}

async function webgpuAdapterName(): Promise<string | undefined> {
  const gpuApi = (
    globalThis as {
      navigator?: { gpu?: { requestAdapter(): Promise<{ info?: AdapterInfoLike } | null> } };
    }
  ).navigator?.gpu;
  if (!gpuApi) return undefined;
  try {
    const adapter = await gpuApi.requestAdapter();
    const info = adapter?.info;
    if (!info) return undefined;
    return (
      [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ") || undefined
    );
  } catch {
    return undefined;
  }
}

/**
 * The device behind a kernel class that ran: its mode, the renderer or adapter name where the mode has
 * one, and whether the work really runs on the CPU. `glContext` is gpu.js's GL context (WebGL modes).
 */
export async function deviceOf(kernelClass: string, glContext: unknown): Promise<DeviceInfo> {
  const mode = KERNEL_MODES[kernelClass] ?? kernelClass;
  const fallback = mode === "webasm" || mode === "cpu";
  let renderer: string | undefined;
  if (mode === "webgpu") renderer = await webgpuAdapterName();
  else if (mode === "headlessgl") {
    const driver = nodeGlDriver();
    renderer = driver ? `ANGLE over ${driver}` : undefined;
  } else if (!fallback) renderer = glRenderer(glContext);
  return {
    mode,
    renderer,
    fallback,
    software: fallback || (renderer !== undefined && SOFTWARE_RENDERER.test(renderer)),
  };
}
