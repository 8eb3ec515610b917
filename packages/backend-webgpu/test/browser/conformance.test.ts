import { describeConformance } from "@ropekit/core/testing";
import { describe, expect, it } from "vitest";
import { adapterName, createWebgpuBackend } from "../../src/index.js";

// The full conformance suite (every golden vector, attention case, property and error case) through the
// browser's own WebGPU: navigator.gpu in headless Chromium (Debian's, --enable-unsafe-webgpu), on
// SwiftShader here and on the GPU where there is one. A page without navigator.gpu or an adapter fails
// here: nothing is skipped, so the chromium project can only pass by really running WebGPU.
describe("backend-webgpu in Chromium", () => {
  it("runs on navigator.gpu and names the adapter", async () => {
    expect(navigator.gpu, "navigator.gpu (Chromium needs --enable-unsafe-webgpu here)").toBeDefined();
    const backend = await createWebgpuBackend();
    const { adapter } = backend;
    console.info(
      `[backend-webgpu] Chromium: ${backend.describe().mode} on ${adapterName(adapter)} (fallback adapter: ${adapter.isFallbackAdapter}, software: ${adapter.software}, shader-f16: ${adapter.shaderF16}, subgroups: ${adapter.subgroups})`,
    );
    expect(adapter.runtime).toBe("navigator.gpu");
    expect(adapter.vendor || adapter.architecture || adapter.description).toMatch(/\S/);
    backend.dispose();
  });
});

describeConformance({
  name: "backend-webgpu, Chromium, navigator.gpu",
  create: () => createWebgpuBackend(),
  tolerance: 1e-5,
  expectedMode: /^webgpu \([\w-]+(, software)?\)$/,
});
