// float16 / bfloat16 weights and caches on backend-js, against the f64 reference on the same rounded values.
// (Every op in every dtype is in the conformance suite; these are the model-sized uses.)
import {
  type EmbeddingTensor,
  type HeadsTensor,
  KVCache,
  MultiHeadAttention,
  type Tensor,
  attentionReference,
  convertTensor,
  createReferenceBackend,
  linearReference,
  maxRelativeError,
  ropeSpec,
  widenTensor,
} from "@ropekit/core";
import { dtypeTolerance } from "@ropekit/core/testing";
import { describe, expect, it } from "vitest";
import { createJsBackend } from "../src/index.js";

/** Deterministic values in [-1, 1). */
function values(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

// The js kernels compute in f32 storage with f64 accumulation: on the same inputs they are within 1e-5 of
// the f64 reference (the tolerance the conformance suite holds them to).
const F32_TOLERANCE = 1e-5;

describe("backend-js with float16 / bfloat16", () => {
  it("declares float32, float16 and bfloat16 (not float64)", () => {
    expect(createJsBackend().describe().dtypes).toEqual(["float32", "float16", "bfloat16"]);
  });

  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`linear: ${dtype} weights [384, 512] with f32 x give f32, within f32 error of the f64 product`, async () => {
      const x = { data: values(1, 4 * 512), shape: [4, 512] };
      const weight = convertTensor({ data: values(2, 384 * 512), shape: [384, 512] }, dtype);
      const bias = convertTensor({ data: values(3, 384), shape: [384] }, dtype);
      const out = await createJsBackend().linear(x, weight, bias);
      expect(out.data).toBeInstanceOf(Float32Array);
      const expected = linearReference(x, widenTensor(weight, "w"), widenTensor(bias, "b"));
      expect(maxRelativeError(out.data, expected.data)).toBeLessThanOrEqual(F32_TOLERANCE);
    });

    it(`linear: ${dtype} x, weights [7, 40] and bias (a partial block of rows) give ${dtype}`, async () => {
      const x = convertTensor({ data: values(4, 3 * 40), shape: [3, 40] }, dtype);
      const weight = convertTensor({ data: values(5, 7 * 40), shape: [7, 40] }, dtype);
      const bias = convertTensor({ data: values(6, 7), shape: [7] }, dtype);
      const out = await createJsBackend().linear(x, weight, bias);
      expect(out.dtype).toBe(dtype);
      const expected = linearReference(widenTensor(x, "x"), widenTensor(weight, "w"), widenTensor(bias, "b"));
      const got = widenTensor(out, "out").data;
      expect(maxRelativeError(got, expected.data)).toBeLessThanOrEqual(dtypeTolerance(dtype, F32_TOLERANCE));
    });

    it(`decode: f32 query against a ${dtype} KVCache of 300 positions`, async () => {
      const cache = new KVCache({ batch: 1, kvHeads: 2, headDim: 64, capacity: 64, dtype });
      for (let step = 0; step < 3; step++) {
        const k: HeadsTensor = {
          data: values(10 + step, 2 * 100 * 64),
          shape: [1, 2, 100, 64],
          layout: "bhsd",
        };
        const v: HeadsTensor = {
          data: values(20 + step, 2 * 100 * 64),
          shape: [1, 2, 100, 64],
          layout: "bhsd",
        };
        cache.append(k, v);
      }
      const q: HeadsTensor = { data: values(30, 8 * 64), shape: [1, 8, 1, 64], layout: "bhsd" };
      const options = { kvLength: cache.length };
      const out = await createJsBackend().attention(q, cache.keys, cache.values, options);
      expect(out.output.data).toBeInstanceOf(Float32Array);
      const expected = attentionReference(
        q,
        widenTensor(cache.keys, "k"),
        widenTensor(cache.values, "v"),
        options,
      );
      expect(maxRelativeError(out.output.data, expected.output.data)).toBeLessThanOrEqual(F32_TOLERANCE);
    });

    it(`MultiHeadAttention: ${dtype} weights and cache, prefill then decode, as the reference computes it`, async () => {
      const hidden = 64;
      const headDim = 16;
      const w = (seed: number, rows: number, cols: number): Tensor =>
        convertTensor({ data: values(seed, rows * cols), shape: [rows, cols] }, dtype);
      const weights = { q: w(1, 64, hidden), k: w(2, 32, hidden), v: w(3, 32, hidden), o: w(4, hidden, 64) };
      const config = {
        hiddenSize: hidden,
        numHeads: 4,
        numKvHeads: 2,
        headDim,
        rope: ropeSpec({ headDim }),
        weights,
      };
      const js = new MultiHeadAttention(createJsBackend(), config);
      const ref = new MultiHeadAttention(createReferenceBackend(), config);
      const cj = js.createCache(1, 8, dtype);
      const cr = ref.createCache(1, 8, dtype);
      const x: EmbeddingTensor = { data: values(5, 5 * hidden), shape: [1, 5, hidden] };
      const step: EmbeddingTensor = { data: values(6, hidden), shape: [1, 1, hidden] };
      // Both round keys and values to the cache's format; a key whose f32 and f64 values straddle a
      // rounding boundary may land one ulp apart, which moves the output by at most u relative: the
      // tolerance is the format's, u + (1 + u)·f32 (see dtypeTolerance).
      const tolerance = dtypeTolerance(dtype, F32_TOLERANCE);
      for (const input of [x, step, step]) {
        const a = await js.forward(input, { cache: cj });
        const b = await ref.forward(input, { cache: cr });
        expect(maxRelativeError(a.data, b.data)).toBeLessThanOrEqual(tolerance);
      }
      expect(cj.keys.dtype).toBe(dtype);
    });
  }

  it("bfloat16 q and k × 1e20: scores past f32's range, the rows are repaired in f64 and come out in bfloat16", async () => {
    const big = (seed: number) =>
      convertTensor(
        {
          data: values(seed, 2 * 6 * 8).map((x) => x * 1e20),
          shape: [1, 2, 6, 8] as const,
          layout: "bhsd" as const,
        },
        "bfloat16",
      ) as HeadsTensor;
    const q = big(40);
    const k = big(41);
    const v = convertTensor(
      { data: values(42, 2 * 6 * 8), shape: [1, 2, 6, 8] as const, layout: "bhsd" as const },
      "bfloat16",
    ) as HeadsTensor;
    const out = await createJsBackend().attention(q, k, v, { causal: true });
    expect(out.output.dtype).toBe("bfloat16");
    const got = widenTensor(out.output, "out").data;
    const expected = attentionReference(widenTensor(q, "q"), widenTensor(k, "k"), widenTensor(v, "v"), {
      causal: true,
    }).output.data;
    expect(Array.from(got).every(Number.isFinite)).toBe(true);
    expect(maxRelativeError(got, expected)).toBeLessThanOrEqual(dtypeTolerance("bfloat16", F32_TOLERANCE));
  });

  it("refuses float64 and undeclared Uint16Array data with INVALID_DTYPE", async () => {
    const js = createJsBackend();
    const x = { data: new Float64Array(4), shape: [1, 4] };
    await expect(js.rmsNorm(x)).rejects.toMatchObject({
      code: "INVALID_DTYPE",
      message: expect.stringContaining("float32, float16, bfloat16"),
    });
    await expect(js.rmsNorm({ data: new Uint16Array(4), shape: [1, 4] })).rejects.toMatchObject({
      code: "INVALID_DTYPE",
      message: expect.stringContaining('pass dtype "float16" or "bfloat16"'),
    });
  });
});
