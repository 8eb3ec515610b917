// float16 / bfloat16 KV caches, MultiHeadAttention weights and linear weights, on the reference backend:
// each against the f64 reference on the same rounded values.
import { describe, expect, it } from "vitest";
import {
  type HeadsTensor,
  KVCache,
  MultiHeadAttention,
  type MultiHeadAttentionWeights,
  type Tensor,
  attentionReference,
  convertTensor,
  createReferenceBackend,
  encodeHalf,
  linearReference,
  maxRelativeError,
  repairAttentionRows,
  ropeSpec,
  widenData,
  widenTensor,
} from "../src/index.js";
import { seededValues } from "../src/cases/seeded.js";

const heads = (id: string, shape: [number, number, number, number]): HeadsTensor<Float32Array> => ({
  data: Float32Array.from(
    seededValues(
      id,
      shape.reduce((a, b) => a * b, 1),
    ),
  ),
  shape,
  layout: "bhsd",
});

describe("KVCache in float16 / bfloat16", () => {
  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`${dtype}: half the bytes of float32, values rounded to nearest even as appended`, () => {
      const options = { batch: 2, kvHeads: 3, headDim: 8, capacity: 4 };
      const half = new KVCache({ ...options, dtype });
      const full = new KVCache(options);
      expect(half.byteLength * 2).toBe(full.byteLength);
      // 6 positions: past the capacity of 4, so the storage grows and keeps what was there.
      const k = heads(`${dtype}/k`, [2, 3, 6, 8]);
      const v = heads(`${dtype}/v`, [2, 3, 6, 8]);
      for (const cache of [half, full]) {
        cache.append(toSeq(k, 0, 2), toSeq(v, 0, 2));
        cache.append(toSeq(k, 2, 6), toSeq(v, 2, 6));
      }
      expect(half.length).toBe(6);
      expect(half.byteLength * 2).toBe(full.byteLength);
      expect(half.keys.dtype).toBe(dtype);
      expect(half.keys.data).toBeInstanceOf(Uint16Array);
      // Every stored key is the f32 key rounded to the format.
      for (let bh = 0; bh < 6; bh++) {
        const stored = half.keys.data.subarray(bh * 8 * 8, bh * 8 * 8 + 6 * 8);
        const want = encodeHalf(k.data.subarray(bh * 6 * 8, (bh + 1) * 6 * 8), dtype);
        expect(Array.from(stored)).toEqual(Array.from(want));
      }
    });

    it(`${dtype}: attention of an f32 query against the cache is the f64 attention of the rounded keys`, async () => {
      const cache = new KVCache({ batch: 1, kvHeads: 2, headDim: 16, dtype });
      const k = heads(`${dtype}/att/k`, [1, 2, 9, 16]);
      const v = heads(`${dtype}/att/v`, [1, 2, 9, 16]);
      cache.append(k, v);
      const q = heads(`${dtype}/att/q`, [1, 4, 1, 16]);
      const options = { kvLength: cache.length, causal: true } as const;
      const out = await createReferenceBackend().attention(q, cache.keys, cache.values, options);
      // The query's dtype decides the output's: f32 in, not half out.
      expect(out.output.dtype).toBeUndefined();
      const rounded = (t: HeadsTensor<Float32Array>) =>
        widenTensor(convertTensor(t, dtype) as HeadsTensor, "kv") as HeadsTensor;
      const expected = attentionReference(q, rounded(k), rounded(v), { causal: true });
      expect(maxRelativeError(out.output.data, expected.output.data)).toBeLessThanOrEqual(1e-12);
    });
  }

  it("converts between half formats on append (float16 keys into a bfloat16 cache)", () => {
    const cache = new KVCache({ batch: 1, kvHeads: 1, headDim: 4, dtype: "bfloat16" });
    const k = convertTensor(heads("x/k", [1, 1, 2, 4]), "float16") as HeadsTensor;
    cache.append(k, k);
    const values = widenData(k.data, "float16", "float64");
    expect(Array.from(cache.keys.data.subarray(0, 8))).toEqual(Array.from(encodeHalf(values, "bfloat16")));
  });

  it("refuses an unknown dtype", () => {
    expect(() => new KVCache({ batch: 1, kvHeads: 1, headDim: 4, dtype: "int8" as never })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTION" }),
    );
  });
});

/** Positions [from, to) of a bhsd tensor. */
function toSeq(t: HeadsTensor<Float32Array>, from: number, to: number): HeadsTensor<Float32Array> {
  const [b, h, , d] = t.shape;
  const n = t.shape[2];
  const data = new Float32Array(b * h * (to - from) * d);
  for (let r = 0; r < b * h; r++)
    data.set(t.data.subarray((r * n + from) * d, (r * n + to) * d), r * (to - from) * d);
  return { data, shape: [b, h, to - from, d], layout: "bhsd" };
}

describe("MultiHeadAttention and linear with float16 / bfloat16 weights", () => {
  const hidden = 32;
  const headDim = 8;
  const weights = (id: string): MultiHeadAttentionWeights => {
    const w = (name: string, rows: number, cols: number): Tensor => ({
      data: Float32Array.from(seededValues(`${id}/${name}`, rows * cols)),
      shape: [rows, cols],
    });
    return {
      q: w("q", 4 * headDim, hidden),
      k: w("k", 2 * headDim, hidden),
      v: w("v", 2 * headDim, hidden),
      o: w("o", hidden, 4 * headDim),
    };
  };

  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`${dtype} weights and cache: the same as f64 weights holding the rounded values`, async () => {
      const backend = createReferenceBackend();
      const f32 = weights(dtype);
      const convert = (t: Tensor | undefined) => (t ? convertTensor(t, dtype) : undefined) as Tensor;
      const half = { q: convert(f32.q), k: convert(f32.k), v: convert(f32.v), o: convert(f32.o) };
      const wide = {
        q: widenTensor(half.q, "q"),
        k: widenTensor(half.k, "k"),
        v: widenTensor(half.v, "v"),
        o: widenTensor(half.o, "o"),
      };
      const config = { hiddenSize: hidden, numHeads: 4, numKvHeads: 2, headDim, rope: ropeSpec({ headDim }) };
      const a = new MultiHeadAttention(backend, { ...config, weights: half });
      const b = new MultiHeadAttention(backend, { ...config, weights: wide });
      const ca = a.createCache(1, 4, dtype);
      const cb = b.createCache(1, 4, dtype);
      expect(ca.dtype).toBe(dtype);
      const x = {
        data: Float32Array.from(seededValues(`${dtype}/x`, 3 * hidden)),
        shape: [1, 3, hidden] as [number, number, number],
      };
      const step = { data: x.data.subarray(0, hidden), shape: [1, 1, hidden] as [number, number, number] };
      const ya = [await a.forward(x, { cache: ca }), await a.forward(step, { cache: ca })];
      const yb = [await b.forward(x, { cache: cb }), await b.forward(step, { cache: cb })];
      for (let i = 0; i < 2; i++)
        expect(maxRelativeError((ya[i] as Tensor).data, (yb[i] as Tensor).data)).toBeLessThanOrEqual(1e-12);
    });

    it(`${dtype} linear weights with f32 x: f32 output, the f64 product of the rounded weights`, async () => {
      const x = { data: Float32Array.from(seededValues(`${dtype}/lx`, 3 * 64)), shape: [3, 64] };
      const w = convertTensor(
        { data: Float32Array.from(seededValues(`${dtype}/lw`, 5 * 64)), shape: [5, 64] },
        dtype,
      );
      const out = await createReferenceBackend().linear(x, w);
      expect(out.dtype).toBeUndefined();
      expect(maxRelativeError(out.data, linearReference(x, widenTensor(w, "w")).data)).toBe(0);
    });
  }
});

describe("repairAttentionRows on a bfloat16 output", () => {
  it("recomputes a non-finite row in f64 and writes it as bfloat16 bits; other rows stay", () => {
    const q = convertTensor(heads("repair/q", [1, 1, 3, 8]), "bfloat16") as HeadsTensor;
    const k = convertTensor(heads("repair/k", [1, 1, 5, 8]), "bfloat16") as HeadsTensor;
    const v = convertTensor(heads("repair/v", [1, 1, 5, 8]), "bfloat16") as HeadsTensor;
    const exact = attentionReference(widenTensor(q, "q"), widenTensor(k, "k"), widenTensor(v, "v"), {
      returnLse: true,
    });
    const bits = encodeHalf(exact.output.data, "bfloat16");
    const output = {
      data: bits.slice(),
      shape: [1, 1, 3, 8] as const,
      layout: "bhsd" as const,
      dtype: "bfloat16" as const,
    };
    output.data.fill(0x7fc0, 8, 16); // row 1: NaN, as an f32 kernel's overflow would leave it
    output.data[0] = 0x1234; // row 0: finite and wrong, so it must not be touched
    const lse = Float32Array.from(exact.lse as Float64Array);
    lse[1] = Number.NaN;
    expect(repairAttentionRows(q, k, v, {}, output, lse)).toBe(1);
    expect(Array.from(output.data.subarray(8, 16))).toEqual(Array.from(bits.subarray(8, 16)));
    expect(output.data[0]).toBe(0x1234);
    expect(lse[1]).toBeCloseTo(exact.lse?.[1] as number, 5);
  });
});
