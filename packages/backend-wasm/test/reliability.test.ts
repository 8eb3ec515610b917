// Silent wrong answers of backend-wasm (issue 12): concurrent calls, resident tensors after dispose or
// memory growth, sparse sinusoidal ids, typed errors, and workers that die. Values are checked against
// the f64 reference.
import {
  type HeadsTensor,
  type RopekitError,
  addSinusoidalReference,
  createReferenceBackend,
  maxRelativeError,
  ropeSpec,
} from "@ropekit/core";
import { afterAll, describe, expect, it } from "vitest";
import { type WasmBackend, type WasmTensor, createWasmBackend } from "../src/index.js";
import type { WorkerPool } from "../src/pool.js";

const reference = createReferenceBackend();
const spec = ropeSpec({ headDim: 16 });
const values = (n: number, seed = 0) => Float32Array.from({ length: n }, (_, j) => Math.sin(j * 0.37 + seed));

function bhsd(heads: number, seq: number, seed = 0, headDim = 16): HeadsTensor<Float32Array> {
  return { data: values(heads * seq * headDim, seed), shape: [1, heads, seq, headDim], layout: "bhsd" };
}

const backends: WasmBackend[] = [];
async function make(options?: Parameters<typeof createWasmBackend>[0]): Promise<WasmBackend> {
  const backend = await createWasmBackend(options);
  backends.push(backend);
  return backend;
}
afterAll(() => {
  for (const b of backends) b.dispose();
});

/** A resident tensor passed as it is (its `data` getter read by the op), as the README shows. */
const asHeads = (t: WasmTensor): HeadsTensor => t as unknown as HeadsTensor;

/** Resident q, k, v of `shape` (bhsd) on `backend`, filled with seeds 1, 2, 3. */
function residentQkv(backend: WasmBackend, shape: readonly number[]): [WasmTensor, WasmTensor, WasmTensor] {
  return [1, 2, 3].map((seed) => {
    const t = backend.tensor([...shape], "bhsd");
    t.data.set(values(t.length, seed));
    return t;
  }) as [WasmTensor, WasmTensor, WasmTensor];
}

function poolOf(backend: WasmBackend): WorkerPool {
  return (backend as unknown as { setup: { pool: WorkerPool } }).setup.pool;
}

describe("concurrent calls keep what they use alive", () => {
  it("100 concurrent applyRope calls at different positions on 2 threads each match the reference", async () => {
    const backend = await make({ threads: 2 });
    const xs = Array.from({ length: 100 }, (_, i) => bhsd(2, 32, i));
    // Each call uploads its own cos/sin table: more than the 8 kept, while earlier calls are still queued.
    const outs = await Promise.all(xs.map((x, i) => backend.applyRope(x, spec, { positions: 100 * i })));
    const errors = await Promise.all(
      xs.map(async (x, i) => {
        const ref = await reference.applyRope(x, spec, { positions: 100 * i });
        return maxRelativeError(outs[i]?.data as Float32Array, ref.data);
      }),
    );
    expect(Math.max(...errors)).toBeLessThanOrEqual(1e-5);
  });

  it("concurrent fused-RoPE attention calls at different positions on 2 threads match the reference", async () => {
    const backend = await make({ threads: 2 });
    const q = bhsd(2, 40, 1);
    const k = bhsd(2, 40, 2);
    const v = bhsd(2, 40, 3);
    const options = (i: number) => ({
      causal: true,
      rope: { rope: spec, qPositions: 50 * i, kPositions: 50 * i },
    });
    const outs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => backend.attention(q, k, v, options(i))),
    );
    for (const [i, out] of outs.entries()) {
      const ref = await reference.attention(q, k, v, options(i));
      expect(maxRelativeError(out.output.data as Float32Array, ref.output.data)).toBeLessThanOrEqual(1e-5);
    }
  });

  it("a resident input read after the memory grew (out of place) is read from the grown memory", async () => {
    // 16 pages at the start: a 768 KiB tensor leaves no room for its copy, so the call grows the memory,
    // which detaches every view of the old (non-shared) buffer.
    const backend = await make({ threads: 1 });
    const x = backend.tensor([1, 2, 6144, 16], "bhsd");
    x.data.set(values(x.length, 5));
    const before = backend.memoryBytes;
    const plain = { data: x.data.slice(), shape: [1, 2, 6144, 16] as const, layout: "bhsd" as const };
    const out = await backend.applyRope(asHeads(x), spec, { positions: 3 });
    expect(backend.memoryBytes).toBeGreaterThan(before);
    const ref = await reference.applyRope(plain, spec, { positions: 3 });
    expect(maxRelativeError(out.data as Float32Array, ref.data)).toBeLessThanOrEqual(1e-5);
    x.dispose();
  });

  it("resident q, k, v copied for fused RoPE while the memory grows give the reference's attention", async () => {
    const backend = await make({ threads: 1 });
    const shape = [1, 1, 1024, 64] as const; // 768 KiB resident, then 768 KiB of copies: the memory grows
    const [q, k, v] = residentQkv(backend, shape);
    const plain = (t: typeof q) => ({ data: t.data.slice(), shape, layout: "bhsd" as const });
    const options = { causal: true, rope: { rope: ropeSpec({ headDim: 64 }) } };
    const expected = await reference.attention(plain(q), plain(k), plain(v), options);
    const got = await backend.attention(asHeads(q), asHeads(k), asHeads(v), options);
    expect(maxRelativeError(got.output.data as Float32Array, expected.output.data)).toBeLessThanOrEqual(1e-5);
    for (const t of [q, k, v]) t.dispose();
  });
});

describe("resident tensors after dispose", () => {
  it("an in-place op through a data view kept from a disposed tensor raises DISPOSED and leaves the new tensor alone", async () => {
    const backend = await make();
    const shape = [1, 4, 2, 16] as const;
    const t = backend.tensor([...shape], "bshd");
    const stale = t.data;
    t.dispose();
    const fresh = backend.tensor([...shape], "bshd"); // the allocator hands out the same address
    fresh.data.set(values(fresh.length, 9));
    await expect(
      backend.applyRope({ data: stale, shape, layout: "bshd" }, spec, { positions: 5, inPlace: true }),
    ).rejects.toMatchObject({ code: "DISPOSED" });
    expect(() =>
      backend.sync.attention({ data: stale, shape, layout: "bshd" }, asHeads(fresh), asHeads(fresh)),
    ).toThrow(expect.objectContaining({ code: "DISPOSED" }));
    expect(Array.from(fresh.data)).toEqual(Array.from(values(fresh.length, 9)));
    expect(() => t.data).toThrow(expect.objectContaining({ code: "DISPOSED" }));
    fresh.dispose();
  });

  it("a view into wasm memory that no live tensor holds raises DISPOSED; a subarray of a live one works", async () => {
    const backend = await make();
    const t = backend.tensor([2, 64]);
    t.data.set(values(128, 4));
    const outside = new Float32Array(t.data.buffer, 0, 64);
    await expect(backend.addSinusoidal({ data: outside, shape: [1, 1, 64] })).rejects.toMatchObject({
      code: "DISPOSED",
    });
    const row = t.data.subarray(64, 128);
    const out = await backend.addSinusoidal({ data: row, shape: [1, 1, 64] }, { positions: 7 });
    const ref = addSinusoidalReference(
      { data: values(128, 4).subarray(64), shape: [1, 1, 64] },
      { positions: 7 },
    );
    expect(maxRelativeError(out.data as Float32Array, ref.data)).toBeLessThanOrEqual(1e-6);
    t.dispose();
  });

  it("disposing resident k and v while attention runs keeps their memory until the call ends", async () => {
    const backend = await make({ threads: 2 });
    const shape = [1, 2, 64, 16] as const;
    const [q, k, v] = residentQkv(backend, shape);
    const plain = (t: typeof q) => ({ data: t.data.slice(), shape, layout: "bhsd" as const });
    const expected = await reference.attention(plain(q), plain(k), plain(v), { causal: true });
    const baseline = backend.allocatedBytes;
    const call = backend.attention(asHeads(q), asHeads(k), asHeads(v), { causal: true });
    await Promise.resolve(); // the call has started: its kernels are posted to the worker
    const [kPtr, vPtr] = [k.ptr, v.ptr];
    k.dispose();
    v.dispose();
    // New tensors must not get the memory the running call reads; fill them with garbage.
    const others = [backend.tensor([...shape]), backend.tensor([...shape])];
    for (const o of others) {
      o.data.fill(Number.NaN);
      for (const p of [kPtr, vPtr]) expect(o.ptr + o.length * 4 <= p || p + k.length * 4 <= o.ptr).toBe(true);
    }
    const got = await call;
    expect(maxRelativeError(got.output.data as Float32Array, expected.output.data)).toBeLessThanOrEqual(1e-5);
    for (const o of others) o.dispose();
    q.dispose();
    // Once the call ended, k and v's memory was given back.
    expect(backend.allocatedBytes).toBeLessThan(baseline);
  });
});

describe("resident tensors disposed during a call that core reads after the kernels", () => {
  const shape = [1, 2, 48, 16] as const;
  /** Resident q, k, v with q, k × 1e20: their scores pass f32, so core recomputes rows in f64. */
  const residents = (backend: WasmBackend) =>
    [1, 2, 3].map((seed) => {
      const t = backend.tensor([...shape], "bhsd");
      t.data.set(values(t.length, seed).map((x) => (seed < 3 ? x * 1e20 : x)));
      return t;
    }) as [WasmTensor, WasmTensor, WasmTensor];
  const plain = (t: WasmTensor) => ({ data: t.data.slice(), shape, layout: "bhsd" as const });

  it("q, k, v disposed while attention runs on 2 threads: core's f64 repair still reads them, right", async () => {
    const backend = await make({ threads: 2 });
    const [q, k, v] = residents(backend);
    const expected = await reference.attention(plain(q), plain(k), plain(v), { causal: true });
    const baseline = backend.allocatedBytes;
    const call = backend.attention(asHeads(q), asHeads(k), asHeads(v), { causal: true });
    await Promise.resolve(); // the call has started: its kernels are posted to the worker
    for (const t of [q, k, v]) t.dispose();
    const got = await call;
    expect(maxRelativeError(got.output.data as Float32Array, expected.output.data)).toBeLessThanOrEqual(1e-5);
    expect(backend.allocatedBytes).toBeLessThan(baseline); // given back once the call ended
    expect(() => k.data).toThrow(expect.objectContaining({ code: "DISPOSED" }));
  });

  it("the same with fused RoPE (k is rotated after q's kernel): the right answer or DISPOSED, never garbage", async () => {
    const backend = await make({ threads: 2 });
    const [q, k, v] = residents(backend);
    const options = { causal: true, rope: { rope: spec, qPositions: 7, kPositions: 7 } };
    const expected = await reference.attention(plain(q), plain(k), plain(v), options);
    const baseline = backend.allocatedBytes;
    const call = backend.attention(asHeads(q), asHeads(k), asHeads(v), options);
    await Promise.resolve();
    for (const t of [q, k, v]) t.dispose();
    const got = await call.catch((error: RopekitError) => error);
    if ("code" in got) expect(got.code).toBe("DISPOSED");
    else {
      const error = maxRelativeError(got.output.data as Float32Array, expected.output.data);
      expect(error).toBeLessThanOrEqual(1e-5);
    }
    expect(backend.allocatedBytes).toBeLessThan(baseline);
  });
});

describe("addSinusoidal with sparse ids", () => {
  it("ids [0, 2^24, 7] and [0, 2^31 − 1, 7] match the reference and cost the tokens, not the span", async () => {
    const backend = await make();
    const x = { data: values(3 * 64), shape: [1, 3, 64] as const };
    for (const positions of [
      [0, 2 ** 22, 7],
      [0, 2 ** 24, 7],
      [0, 2 ** 31 - 1, 7],
    ]) {
      const out = await backend.addSinusoidal(x, { positions });
      const ref = addSinusoidalReference(x, { positions });
      expect(maxRelativeError(out.data as Float32Array, ref.data)).toBeLessThanOrEqual(1e-6);
    }
    // One row per token: the memory never grew past its first megabytes (the span would need GiBs).
    expect(backend.memoryBytes).toBeLessThanOrEqual(4 * 2 ** 20);
  });

  it("dense offsets, repeated and per-row ids match the reference", async () => {
    const backend = await make({ threads: 2 });
    const x = { data: values(2 * 300 * 33), shape: [2, 300, 33] as const }; // odd dim: a lone sin channel
    const cases = [
      {},
      { positions: 12345 },
      { positions: Array.from({ length: 300 }, (_, i) => (i * 7) % 50) },
      { positions: Array.from({ length: 600 }, (_, i) => 2 ** 30 + i) },
    ];
    for (const options of cases) {
      const out = await backend.addSinusoidal(x, options);
      const ref = addSinusoidalReference(x, options);
      expect(maxRelativeError(out.data as Float32Array, ref.data)).toBeLessThanOrEqual(1e-6);
    }
  });
});

describe("typed errors", () => {
  const code = (c: string) => expect.objectContaining({ code: c });

  it("bad maxMemoryBytes and unknown options raise INVALID_OPTION", async () => {
    for (const maxMemoryBytes of [0, -1, Number.NaN, "64MB"]) {
      await expect(createWasmBackend({ maxMemoryBytes } as never)).rejects.toMatchObject({
        code: "INVALID_OPTION",
        argument: "maxMemoryBytes",
      });
    }
    const error = (await createWasmBackend({ thread: 2 } as never).catch((e) => e)) as RopekitError;
    expect(error.code).toBe("INVALID_OPTION");
    expect(error.message).toMatch(/"thread".*threads, relaxedSimd, maxMemoryBytes/);
    await expect(createWasmBackend({ relaxedSimd: "yes" } as never)).rejects.toMatchObject({
      code: "INVALID_OPTION",
    });
  });

  it("bad shapes raise INVALID_SHAPE; tensors past wasm32 raise TOO_LARGE or OUT_OF_MEMORY", async () => {
    const backend = await make();
    for (const shape of ["abc", null, [], [2, 0], [1.5], [-1]]) {
      expect(() => backend.tensor(shape as never)).toThrow(code("INVALID_SHAPE"));
    }
    expect(() => backend.tensor([4], "hsbd" as never)).toThrow(code("INVALID_LAYOUT"));
    for (const shape of [[2 ** 31], [2 ** 20, 2 ** 20], [2 ** 29, 2]]) {
      let error: unknown;
      try {
        backend.tensor(shape);
      } catch (e) {
        error = e;
      }
      expect(["TOO_LARGE", "OUT_OF_MEMORY"]).toContain((error as RopekitError).code);
    }
    expect(backend.tensor([4]).length).toBe(4); // and it still works
  });
});

describe("workers that die", () => {
  const q = bhsd(2, 64, 1);
  const k = bhsd(2, 64, 2);
  const v = bhsd(2, 64, 3);

  it("a worker killed mid-call fails that call with WORKER_FAILED; the next call runs on a new worker", async () => {
    const backend = await make({ threads: 2 });
    const expected = await reference.attention(q, k, v, { causal: true });
    poolOf(backend).killWorker(0, true); // dies right after this call's part is posted to it
    await expect(backend.attention(q, k, v, { causal: true })).rejects.toMatchObject({
      code: "WORKER_FAILED",
    });
    const again = await backend.attention(q, k, v, { causal: true });
    expect(maxRelativeError(again.output.data as Float32Array, expected.output.data)).toBeLessThanOrEqual(
      1e-5,
    );
    expect(backend.describe().threads).toBe(2);
    expect(backend.describe().notes).toMatch(/restart/);
  });

  it("a worker that cannot be restarted is dropped: the backend goes on with fewer threads and says so", async () => {
    const backend = await make({ threads: 2 });
    const pool = poolOf(backend);
    (pool as unknown as { spawn: () => Promise<never> }).spawn = () =>
      Promise.reject(new Error("no more workers"));
    pool.killWorker(0);
    await expect(backend.attention(q, k, v)).rejects.toMatchObject({ code: "WORKER_FAILED" });
    expect(backend.describe().threads).toBe(1);
    expect(backend.describe().notes).toMatch(/could not be restarted/);
    const expected = await reference.attention(q, k, v);
    const again = await backend.attention(q, k, v);
    expect(maxRelativeError(again.output.data as Float32Array, expected.output.data)).toBeLessThanOrEqual(
      1e-5,
    );
  });
});

describe("dispose() with calls in flight", () => {
  it("dispose() while a call waits on a worker: the call finishes right, then the workers are released", async () => {
    const backend = await createWasmBackend({ threads: 2 });
    // Long enough (8 heads × 512 keys) that the worker is still computing when dispose() comes.
    const [q, k, v] = [bhsd(8, 512, 1, 64), bhsd(8, 512, 2, 64), bhsd(8, 512, 3, 64)];
    const expected = await reference.attention(q, k, v, { causal: true });
    const call = backend.attention(q, k, v, { causal: true });
    await Promise.resolve(); // the call has posted its part to the worker
    backend.dispose();
    await expect(backend.attention(q, k, v)).rejects.toMatchObject({ code: "DISPOSED" });
    const got = await call;
    expect(maxRelativeError(got.output.data as Float32Array, expected.output.data)).toBeLessThanOrEqual(1e-5);
    expect(poolOf(backend).size).toBe(0);
  });
});
