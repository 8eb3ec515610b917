import { describeConformance } from "@ropekit/core/testing";
import { describe, expect, it } from "vitest";
import { createGpujsBackend } from "../../src/index.js";
import { expectEveryOpRunsIn } from "../mode-check.js";

// WebGPU in headless Chromium (--enable-unsafe-webgpu; SwiftShader's Vulkan here): WGSL compute shaders
// over f32 storage buffers.
describeConformance({
  name: "backend-gpujs, Chromium, WebGPU",
  create: () => createGpujsBackend({ mode: "webgpu" }),
  tolerance: 1e-4,
  expectedMode: /^gpujs-webgpu( \(software\))?$/,
});

describe("backend-gpujs in Chromium, WebGPU", () => {
  it("names the adapter and runs every op as webgpu", async () => {
    const backend = await createGpujsBackend({ mode: "webgpu" });
    console.info(`[backend-gpujs] WebGPU adapter: ${backend.device.renderer}`);
    expect(backend.device.renderer).toMatch(/\S/);
    await expectEveryOpRunsIn(backend, "webgpu");
    backend.dispose();
  });
});
