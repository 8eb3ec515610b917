// When the umbrella takes webgpu: only on a hardware adapter. A stubbed `navigator.gpu` stands in for
// the browser's (Node 20 has no `navigator`, so the backend uses the stub before it would try Dawn);
// the real SwiftShader adapter (Dawn, Chromium's Vulkan ICD) must be declined with its name.
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webgpuRegistration } from "@ropekit/backend-webgpu";
import { afterEach, describe, expect, it, vi } from "vitest";
import { listBackends, pickBackend, registerBackend } from "../src/index.js";

interface StubAdapter {
  vendor: string;
  architecture: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

const LIMITS = {
  maxStorageBufferBindingSize: 1 << 27,
  maxBufferSize: 1 << 28,
  maxComputeWorkgroupStorageSize: 32768,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
};

/** The little of WebGPU that finding an adapter and creating a device touches; no kernel runs. */
function stubGpu(adapter: StubAdapter | null | "throws") {
  const requested: string[] = [];
  const gpu = {
    requested,
    async requestAdapter() {
      requested.push("adapter");
      if (adapter === "throws") throw new Error("stub: adapter request refused");
      if (adapter === null) return null;
      return {
        info: {
          vendor: adapter.vendor,
          architecture: adapter.architecture,
          device: "",
          description: adapter.description ?? "",
        },
        isFallbackAdapter: adapter.isFallbackAdapter ?? false,
        features: new Set<string>(),
        limits: LIMITS,
        async requestDevice() {
          requested.push("device");
          return { limits: LIMITS, lost: new Promise(() => {}), destroy() {} };
        },
      };
    },
  };
  return gpu;
}

/** Re-registers webgpu so the registry probes it again (it initialises each backend once). */
async function pickWith(gpu: unknown, options: { backend?: string } = {}) {
  vi.stubGlobal("navigator", { gpu });
  registerBackend(webgpuRegistration);
  return pickBackend({ env: {}, ...options });
}

afterEach(() => {
  vi.unstubAllGlobals();
  registerBackend(webgpuRegistration); // forget the stub's backend
});

describe("webgpu in the umbrella's pick", () => {
  it("is registered above wasm", () => {
    const names = listBackends().map((b) => b.name);
    expect(names.indexOf("webgpu")).toBeGreaterThanOrEqual(0);
    expect(names.indexOf("webgpu")).toBeLessThan(names.indexOf("wasm"));
  });

  it("is picked on a hardware adapter", async () => {
    const gpu = stubGpu({ vendor: "nvidia", architecture: "ampere", description: "NVIDIA RTX A6000" });
    const picked = await pickWith(gpu);
    expect(picked.name).toBe("webgpu");
    expect(picked.mode).toBe("webgpu (ampere)");
    expect(picked.skipped.map((s) => s.name)).toContain("wasm");
    expect(gpu.requested).toEqual(["adapter", "device"]);
  });

  for (const [what, adapter, named] of [
    ["SwiftShader", { vendor: "google", architecture: "swiftshader" }, /swiftshader/],
    [
      "llvmpipe",
      { vendor: "mesa", architecture: "", description: "llvmpipe (LLVM 15.0.6, 256 bits)" },
      /llvmpipe/,
    ],
    [
      "WARP",
      { vendor: "microsoft", architecture: "", description: "Microsoft Basic Render Driver" },
      /Basic Render/,
    ],
    [
      "a fallback adapter",
      { vendor: "acme", architecture: "gpu9", isFallbackAdapter: true },
      /fallback adapter/,
    ],
  ] as const) {
    it(`is declined with the reason on ${what}, and still given when asked for by name`, async () => {
      const picked = await pickWith(stubGpu(adapter));
      expect(picked.name).toBe("wasm");
      const skip = picked.skipped.find((s) => s.name === "webgpu");
      expect(skip?.reason).toMatch(/^not picked automatically: /);
      expect(skip?.reason).toMatch(named);
      expect(skip?.reason).toMatch(/runs on the CPU/);
      const asked = await pickBackend({ backend: "webgpu", env: {} });
      expect(asked.name).toBe("webgpu");
      expect(asked.mode).toMatch(/software\)$/);
    });
  }

  it("is skipped with the reason when there is no adapter, or the request fails", async () => {
    const none = await pickWith(stubGpu(null));
    expect(none.name).toBe("wasm");
    expect(none.skipped.find((s) => s.name === "webgpu")?.reason).toMatch(/offers no adapter/);
    const refused = await pickWith(stubGpu("throws"));
    expect(refused.skipped.find((s) => s.name === "webgpu")?.reason).toMatch(/adapter request refused/);
  });

  it("asks for nothing until the pick reaches it", async () => {
    const gpu = stubGpu({ vendor: "nvidia", architecture: "ampere" });
    vi.stubGlobal("navigator", { gpu });
    registerBackend(webgpuRegistration);
    await import("../src/index.js"); // importing (and registering) probes nothing
    expect(gpu.requested).toEqual([]);
    await pickBackend({ backend: "wasm", env: {} });
    expect(gpu.requested).toEqual([]);
  });
});

// Dawn (the optional `webgpu` package, installed in this workspace) on Chromium's SwiftShader Vulkan ICD.
const swiftshader = "/usr/lib/chromium/vk_swiftshader_icd.json";
const haveSwiftshader = existsSync(swiftshader);
if (!haveSwiftshader && process.env["CI"]) {
  it("SwiftShader (Chromium's Vulkan ICD) must exist under CI", () => {
    throw new Error(`missing ${swiftshader}: CI installs chromium and libvulkan1`);
  });
}

describe.skipIf(!haveSwiftshader)("webgpu on the real SwiftShader adapter (Dawn)", () => {
  it("is declined, the reason naming swiftshader; explicit choice runs it", async () => {
    // The Vulkan loader reads these when Dawn first creates an instance (in this worker, below).
    vi.stubEnv("VK_ICD_FILENAMES", swiftshader);
    if (!process.env["XDG_RUNTIME_DIR"]) {
      const xdg = join(tmpdir(), `ropekit-xdg-${process.getuid?.() ?? "user"}`);
      mkdirSync(xdg, { recursive: true, mode: 0o700 });
      vi.stubEnv("XDG_RUNTIME_DIR", xdg);
    }
    registerBackend(webgpuRegistration);
    const picked = await pickBackend({ env: {} });
    expect(picked.name).not.toBe("webgpu");
    const skip = picked.skipped.find((s) => s.name === "webgpu");
    console.log(`webgpu on Dawn: ${skip?.reason}`);
    expect(skip?.reason).toMatch(/^not picked automatically: .*swiftshader/i);
    const asked = await pickBackend({ backend: "webgpu", env: {} });
    expect(asked.mode).toBe("webgpu (swiftshader, software)");
    const out = await asked.backend.linear(
      { data: new Float32Array([1, 2, 3]), shape: [1, 3] },
      { data: new Float32Array([4, 5, 6]), shape: [1, 3] },
    );
    expect(Array.from(out.data)).toEqual([32]);
    vi.unstubAllEnvs();
  });
});
