import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { applyRopeReference, maxRelativeError, ropeSpec } from "@ropekit/core";
import { afterAll, describe, expect, it } from "vitest";
import { type WasmBackend, createWasmBackend } from "../src/index.js";

const spec = ropeSpec({ headDim: 64, base: 500000 });
const values = (n: number, seed = 0.37) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * seed));

describe("backend-wasm memory", () => {
  const backends: WasmBackend[] = [];
  const make = async (options?: Parameters<typeof createWasmBackend>[0]) => {
    const b = await createWasmBackend(options);
    backends.push(b);
    return b;
  };
  afterAll(() => {
    for (const b of backends) b.dispose();
  });

  it("resident tensors: applyRope in place is zero-copy and matches the plain-array path", async () => {
    const backend = await make();
    const x = backend.tensor([2, 5, 3, 64], "bshd");
    x.data.set(values(2 * 5 * 3 * 64));
    const plain = await backend.applyRope(
      { data: x.data.slice(), shape: [2, 5, 3, 64], layout: "bshd" },
      spec,
      { positions: 77 },
    );
    const out = await backend.applyRope({ data: x.data, shape: [2, 5, 3, 64], layout: "bshd" }, spec, {
      positions: 77,
      inPlace: true,
    });
    expect(out.data.buffer).toBe(x.data.buffer); // the wasm memory itself
    expect(Array.from(x.data)).toEqual(Array.from(plain.data));
    const ref = applyRopeReference(
      { data: values(2 * 5 * 3 * 64), shape: [2, 5, 3, 64], layout: "bshd" },
      spec,
      { positions: 77 },
    );
    expect(maxRelativeError(x.data, ref.data)).toBeLessThanOrEqual(1e-5);
    x.dispose();
    expect(() => x.data).toThrow(expect.objectContaining({ code: "DISPOSED" }));
  });

  it("plain bshd arrays larger than one streaming chunk match the reference, in and out of place", async () => {
    const backend = await make();
    const shape: [number, number, number, number] = [2, 600, 4, 64]; // 256 floats a token: 5 chunks
    const data = values(2 * 600 * 4 * 64);
    const ref = applyRopeReference({ data, shape, layout: "bshd" }, spec, { positions: 1000 });
    const out = await backend.applyRope({ data, shape, layout: "bshd" }, spec, { positions: 1000 });
    expect(maxRelativeError(out.data, ref.data)).toBeLessThanOrEqual(1e-5);
    expect(Array.from(data.subarray(0, 8))).toEqual(Array.from(values(8)));
    const copy = data.slice();
    backend.sync.applyRope({ data: copy, shape, layout: "bshd" }, spec, { positions: 1000, inPlace: true });
    expect(Array.from(copy)).toEqual(Array.from(out.data));
  });

  it("resident tensors survive memory growth (their data view is renewed)", async () => {
    const backend = await make();
    const x = backend.tensor([1, 1, 1, 64], "bshd");
    x.data.set(values(64));
    const before = backend.memoryBytes;
    const big = backend.tensor([64, 1024, 1, 64]); // 16 MiB: forces growth
    expect(backend.memoryBytes).toBeGreaterThan(before);
    expect(Array.from(x.data)).toEqual(Array.from(values(64)));
    big.dispose();
    x.dispose();
  });

  it("does not leak over 10 000 calls", async () => {
    const backend = await make();
    const x = {
      data: values(4 * 8 * 64),
      shape: [1, 4, 8, 64] as [number, number, number, number],
      layout: "bshd" as const,
    };
    const q = {
      data: values(2 * 6 * 16),
      shape: [1, 2, 6, 16] as [number, number, number, number],
      layout: "bhsd" as const,
    };
    const warm = async (i: number) => {
      await backend.applyRope(x, spec, { positions: i % 50 }); // new tables, uploaded and evicted
      await backend.attention(q, q, q, { causal: true, returnLse: true });
      backend.sync.linear({ data: values(3 * 16), shape: [3, 16] }, { data: values(5 * 16), shape: [5, 16] });
    };
    for (let i = 0; i < 100; i++) await warm(i);
    const allocated = backend.allocatedBytes;
    const memory = backend.memoryBytes;
    for (let i = 0; i < 10_000; i++) await warm(i);
    expect(backend.allocatedBytes).toBe(allocated);
    expect(backend.memoryBytes).toBe(memory);
  });

  it("past its memory limit it raises OUT_OF_MEMORY, and keeps working", async () => {
    const backend = await make({ maxMemoryBytes: 4 * 2 ** 20 });
    expect(() => backend.tensor([8 * 2 ** 20])).toThrow(expect.objectContaining({ code: "OUT_OF_MEMORY" }));
    const big = {
      data: values(2 ** 21),
      shape: [1, 2 ** 15, 1, 64] as [number, number, number, number],
      layout: "bshd" as const,
    };
    await expect(backend.applyRope(big, spec)).rejects.toMatchObject({ code: "OUT_OF_MEMORY" });
    const small = {
      data: values(64),
      shape: [1, 1, 1, 64] as [number, number, number, number],
      layout: "bshd" as const,
    };
    await expect(backend.applyRope(small, spec)).resolves.toBeDefined();
  });

  it("a disposed backend refuses work", async () => {
    const backend = await createWasmBackend();
    backend.dispose();
    const small = {
      data: values(64),
      shape: [1, 1, 1, 64] as [number, number, number, number],
      layout: "bshd" as const,
    };
    await expect(backend.applyRope(small, spec)).rejects.toMatchObject({ code: "DISPOSED" });
  });
});

describe("backend-wasm threads", () => {
  it("describes its mode and thread count", async () => {
    const one = await createWasmBackend();
    const two = await createWasmBackend({ threads: 2 });
    try {
      expect(one.describe().threads).toBe(1);
      expect(two.describe().threads).toBe(2);
      expect(two.describe().mode).toMatch(/threads2$/);
    } finally {
      one.dispose();
      two.dispose();
    }
  });

  it("without cross-origin isolation it runs single-threaded and says why", async () => {
    const scope = globalThis as { crossOriginIsolated?: boolean };
    scope.crossOriginIsolated = false;
    try {
      const backend = await createWasmBackend({ threads: 4 });
      expect(backend.describe().threads).toBe(1);
      expect(backend.describe().notes).toContain("crossOriginIsolated");
      backend.dispose();
    } finally {
      delete scope.crossOriginIsolated;
    }
  });

  it("a worker that dies surfaces as WORKER_FAILED, not a hang, and is replaced", async () => {
    const backend = await createWasmBackend({ threads: 2 });
    try {
      const pool = (backend as unknown as { setup: { pool: { slots: { port: { terminate(): void } }[] } } })
        .setup.pool;
      const q = {
        data: values(2 * 64 * 16),
        shape: [1, 2, 64, 16] as [number, number, number, number],
        layout: "bhsd" as const,
      };
      pool.slots[0]?.port.terminate();
      await new Promise((r) => setTimeout(r, 100));
      // The dead worker is noticed and replaced before the next call's work is posted.
      const result = await backend.attention(q, q, q, { causal: true });
      expect(Number.isFinite(result.output.data[0])).toBe(true);
      // A worker that traps mid-call (an out-of-bounds pointer) rejects that call.
      const run = (pool as unknown as { run(k: string, calls: number[][]): Promise<void> }).run.bind(pool);
      await expect(run("addRows", [[0x7ffffff0, 0x7ffffff0, 0x7ffffff0, 64, 0, 4]])).rejects.toMatchObject({
        code: "WORKER_FAILED",
      });
    } finally {
      backend.dispose();
    }
  });

  it("never keeps a Node process alive after the work is done", () => {
    const fixture = fileURLToPath(new URL("./fixtures/exit-with-threads.mjs", import.meta.url));
    const out = JSON.parse(
      execFileSync(process.execPath, [fixture], { encoding: "utf8", timeout: 30_000 }),
    ) as { mode: string; first: number };
    expect(out.mode).toMatch(/threads2$/);
    expect(out.first).toBeCloseTo(0.5, 6);
  });
});
