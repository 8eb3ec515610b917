import {
  RopekitError,
  createReferenceBackend,
  pickBackend,
  registerBackend,
  ropeSpec,
  unregisterBackend,
} from "@ropekit/core";
import { afterEach, describe, expect, it } from "vitest";
import { createGpujsBackend, gpujsRegistration } from "../src/index.js";
import { expectEveryOpRunsIn } from "./mode-check.js";

afterEach(() => {
  unregisterBackend("gpujs");
  unregisterBackend("cpu-fake");
});

describe("backend-gpujs modes", () => {
  it("reports gpu.js's webasm fallback as a CPU fallback, from the kernel class that ran", async () => {
    const backend = await createGpujsBackend({ mode: "webasm" });
    expect(backend.device).toMatchObject({ mode: "webasm", fallback: true, software: true });
    expect(backend.describe().notes).toMatch(/fallback on the CPU/);
    await expectEveryOpRunsIn(backend, "webasm");
    backend.dispose();
  });

  it("every op runs in gpu.js's cpu mode when asked for it", async () => {
    const backend = await createGpujsBackend({ mode: "cpu" });
    expect(backend.device).toMatchObject({ mode: "cpu", fallback: true, software: true });
    await expectEveryOpRunsIn(backend, "cpu");
    backend.dispose();
  });

  it("is not picked automatically over a CPU backend in a fallback mode, but is when asked for", async () => {
    // In this Node process without a display, gpu.js's default mode falls back to webasm.
    const registration = { ...gpujsRegistration, create: () => createGpujsBackend({ mode: "webasm" }) };
    registerBackend(registration);
    registerBackend({
      name: "cpu-fake",
      priority: 20,
      isSupported: () => true,
      create: createReferenceBackend,
    });
    const auto = await pickBackend({ env: {} });
    expect(auto.name).toBe("cpu-fake");
    const gpujs = auto.skipped.find((s) => s.name === "gpujs");
    expect(gpujs?.reason).toMatch(/webasm fallback on the CPU.*explicitly/);
    const explicit = await pickBackend({ backend: "gpujs", env: {} });
    expect(explicit.name).toBe("gpujs");
    expect(explicit.mode).toBe("gpujs-webasm (software)");
  });

  it("declines automatic selection on a software rasteriser and accepts a hardware GPU", () => {
    const decline = gpujsRegistration.declineAutoPick as NonNullable<
      typeof gpujsRegistration.declineAutoPick
    >;
    const base = createReferenceBackend();
    const withDevice = (device: object) => ({ ...base, device });
    expect(
      decline(
        withDevice({
          mode: "webgl2",
          renderer: "ANGLE (SwiftShader Device)",
          software: true,
          fallback: false,
        }),
      ),
    ).toMatch(/software rasteriser \(ANGLE \(SwiftShader/);
    expect(
      decline(
        withDevice({ mode: "webgl2", renderer: "ANGLE (NVIDIA H100)", software: false, fallback: false }),
      ),
    ).toBeUndefined();
  });

  it("rejects a bad chunk size and refuses work after dispose", async () => {
    await expect(createGpujsBackend({ chunkElements: 3 })).rejects.toMatchObject({ code: "INVALID_OPTION" });
    const backend = await createGpujsBackend({ mode: "webasm" });
    backend.dispose();
    const x = {
      data: new Float32Array(8),
      shape: [1, 1, 1, 8] as [number, number, number, number],
      layout: "bshd" as const,
    };
    const spec = ropeSpec({ headDim: 8 });
    const error = await backend.applyRope(x, spec).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RopekitError);
    expect((error as RopekitError).code).toBe("DISPOSED");
  });

  it("an unknown mode is a clear BACKEND_UNAVAILABLE", async () => {
    const error = await createGpujsBackend({ mode: "webgl2" }).catch((e: unknown) => e);
    // Node has no WebGL2: gpu.js refuses the mode, and the error says which.
    expect((error as RopekitError).code).toBe("BACKEND_UNAVAILABLE");
    expect((error as Error).message).toMatch(/webgl2/);
  });

  it("rejects an unknown option name with INVALID_OPTION before creating a context", async () => {
    const misspelt = { mdoe: "cpu" } as unknown as Parameters<typeof createGpujsBackend>[0];
    await expect(createGpujsBackend(misspelt)).rejects.toMatchObject({
      code: "INVALID_OPTION",
      argument: "options.mdoe",
    });
  });
});
