import { describeConformance } from "@ropekit/core/testing";
import { describe, expect, it } from "vitest";
import { createGpujsBackend } from "../../src/index.js";
import { expectEveryOpRunsIn } from "../mode-check.js";

// Real headless Chromium (Debian's), WebGL2 through ANGLE on SwiftShader here, the GPU on a machine with
// one. The mode must really be webgl2: a silent fallback to webgl1 or the CPU fails the mode check.
describeConformance({
  name: "backend-gpujs, Chromium, WebGL2",
  create: () => createGpujsBackend({ mode: "webgl2" }),
  tolerance: 1e-4,
  expectedMode: /^gpujs-webgl2( \(software\))?$/,
});

describe("backend-gpujs in Chromium, WebGL2", () => {
  it("names the renderer and runs every op as webgl2", async () => {
    const backend = await createGpujsBackend({ mode: "webgl2" });
    console.info(`[backend-gpujs] WebGL2 renderer: ${backend.device.renderer}`);
    expect(backend.device.renderer).toMatch(/\S/);
    expect(backend.device.software).toBe(/swiftshader|llvmpipe/i.test(backend.device.renderer ?? ""));
    await expectEveryOpRunsIn(backend, "webgl2");
    backend.dispose();
  });
});
