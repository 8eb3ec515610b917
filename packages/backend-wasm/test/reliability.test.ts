// Silent wrong answers of backend-wasm (issue 12): concurrent calls, resident tensors after dispose or
// memory growth, sparse sinusoidal ids, typed errors, and workers that die. Values are checked against
// the f64 reference.
import { type HeadsTensor, createReferenceBackend, maxRelativeError } from "@ropekit/core";
import { describe, expect, it } from "vitest";
import { type WasmBackend, createWasmBackend } from "../src/index.js";
import type { WorkerPool } from "../src/pool.js";

const reference = createReferenceBackend();
const values = (n: number, seed = 0) => Float32Array.from({ length: n }, (_, j) => Math.sin(j * 0.37 + seed));

function bhsd(heads: number, seq: number, seed = 0, headDim = 16): HeadsTensor<Float32Array> {
  return { data: values(heads * seq * headDim, seed), shape: [1, heads, seq, headDim], layout: "bhsd" };
}

function poolOf(backend: WasmBackend): WorkerPool {
  return (backend as unknown as { setup: { pool: WorkerPool } }).setup.pool;
}

describe("dispose() with calls in flight", () => {
  it("dispose() while a call waits on a worker: the call finishes right, then the workers are released", async () => {
    const backend = await createWasmBackend({ threads: 2 });
    const [q, k, v] = [bhsd(2, 64, 1), bhsd(2, 64, 2), bhsd(2, 64, 3)];
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
