import { describe, it } from "vitest";
import { createWebgpuBackend } from "../src/index.js";

/** Why no WebGPU adapter can be had here, or undefined when one can. */
export async function webgpuUnavailable(): Promise<string | undefined> {
  try {
    const backend = await createWebgpuBackend();
    backend.dispose();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Declares `suite` when WebGPU is available. Under CI a missing adapter fails the run (CI installs
 * libvulkan1 and Chromium's SwiftShader); elsewhere the suite is reported loudly as NOT RUN.
 */
export function whenWebgpu(name: string, unavailable: string | undefined, suite: () => void): void {
  if (unavailable === undefined) {
    suite();
    return;
  }
  if (process.env["CI"]) {
    it(`${name}: WebGPU must be available under CI`, () => {
      throw new Error(`no WebGPU adapter: ${unavailable}`);
    });
    return;
  }
  console.warn(`backend-webgpu: ${name} NOT RUN: ${unavailable}`);
  describe.skip(`${name} (NOT RUN: ${unavailable})`, () => {
    it("needs a WebGPU adapter (libvulkan1 and a Vulkan driver, e.g. Chromium's SwiftShader ICD)", () => {});
  });
}
