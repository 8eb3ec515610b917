// Where worker threads cannot start, the top-level API still runs backend-wasm, on one thread, and says why.
import { describe, expect, it, vi } from "vitest";

vi.mock("@ropekit/backend-wasm", async (importOriginal) => {
  const wasm = await importOriginal<typeof import("@ropekit/backend-wasm")>();
  return {
    ...wasm,
    createWasmBackend: (options?: { threads?: number | "auto" }) =>
      options?.threads !== undefined && options.threads !== 1
        ? Promise.reject(new Error("no Worker in this runtime"))
        : wasm.createWasmBackend(options),
  };
});

const { applyRope, configure, getBackend, ropeSpec } = await import("../src/index.js");

describe("threads that fail to start", () => {
  it("fall back to one thread of backend-wasm, with the reason", async () => {
    configure({ threads: 2 });
    const picked = await getBackend();
    expect(picked.name).toBe("wasm");
    expect(picked.threads).toBe(1);
    expect(picked.threadsReason).toBe("1 thread: 2 threads failed to start (no Worker in this runtime)");
    const x = { data: Float32Array.from([1, 0]), shape: [1, 1, 1, 2], layout: "bshd" } as const;
    const out = await applyRope(x, ropeSpec({ headDim: 2 }), { positions: 3 });
    expect(out.data[0]).toBeCloseTo(Math.cos(3), 6);
    expect(out.data[1]).toBeCloseTo(Math.sin(3), 6);
  });
});
