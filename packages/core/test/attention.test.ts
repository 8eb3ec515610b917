// Hand-derived cases for the f64 attention reference.
import { describe, expect, it } from "vitest";
import { type HeadsTensor, attentionReference, linearReference } from "../src/index.js";

/** [1 batch, 1 head, rows, d] bhsd from row arrays. */
const rows = (...r: number[][]): HeadsTensor<Float64Array> => ({
  data: Float64Array.from(r.flat()),
  shape: [1, 1, r.length, (r[0] as number[]).length],
  layout: "bhsd",
});
const out = (r: ReturnType<typeof attentionReference>) => Array.from(r.output.data);

describe("attention reference by hand", () => {
  const v = rows([10, 0], [0, 20], [30, 30]);

  it("scores [1, 0] give softmax weights e/(e+1), 1/(e+1)", () => {
    const r = attentionReference(rows([1, 0]), rows([1, 0], [0, 1]), rows([10, 0], [0, 20]), {
      scale: 1,
      returnLse: true,
    });
    const w0 = Math.E / (Math.E + 1);
    expect(out(r)[0]).toBeCloseTo(10 * w0, 14);
    expect(out(r)[1]).toBeCloseTo(20 * (1 - w0), 14);
    expect(r.lse?.[0]).toBeCloseTo(Math.log(Math.E + 1), 14);
  });

  it("default scale is 1/√headDim", () => {
    const q = rows([2, 0, 0, 0]);
    const k = rows([1, 0, 0, 0], [0, 0, 0, 0]);
    const r = attentionReference(q, k, rows([1, 0], [0, 1]));
    const w0 = Math.exp(1) / (Math.exp(1) + 1); // 2·1/√4 = 1
    expect(out(r)[0]).toBeCloseTo(w0, 14);
  });

  it("causal bottom-right: a single decoding query sees the whole cache; top-left sees only key 0", () => {
    const q = rows([0, 0]);
    const k = rows([0, 0], [0, 0], [0, 0]);
    const all = out(attentionReference(q, k, v, { causal: true }));
    expect(all[0]).toBeCloseTo(40 / 3, 13);
    expect(all[1]).toBeCloseTo(50 / 3, 13);
    expect(out(attentionReference(q, k, v, { causal: "top-left" }))).toEqual([10, 0]);
  });

  it("causal prefill: row 0 is v0, row 1 averages v0 and v1 (equal scores)", () => {
    const zeros = rows([0, 0], [0, 0], [0, 0]);
    const r = out(attentionReference(zeros, zeros, v, { causal: true }));
    expect(r.slice(0, 4)).toEqual([10, 0, 5, 10]);
  });

  it("sliding window 2: the query at position 2 sees keys 1 and 2 only", () => {
    const zeros = rows([0, 0], [0, 0], [0, 0]);
    const r = out(attentionReference(zeros, zeros, v, { window: 2 }));
    expect(r.slice(4)).toEqual([15, 25]);
  });

  it("a row that every mask removes is zeros with lse −∞, never NaN", () => {
    const r = attentionReference(rows([1, 1], [1, 1]), rows([1, 0], [0, 1]), rows([5, 5], [6, 6]), {
      mask: { data: Uint8Array.from([1, 1, 0, 0]), shape: [1, 1, 2, 2] },
      returnLse: true,
    });
    expect(out(r).slice(2)).toEqual([0, 0]);
    expect(r.lse?.[1]).toBe(Number.NEGATIVE_INFINITY);
  });

  it("additive −∞ removes a key; additive log 3 triples its weight", () => {
    const q = rows([0, 0]);
    const k = rows([0, 0], [0, 0]);
    const vv = rows([1, 0], [0, 1]);
    expect(
      out(
        attentionReference(q, k, vv, {
          mask: { data: Float64Array.from([Number.NEGATIVE_INFINITY, 0]), shape: [1, 1, 1, 2] },
        }),
      ),
    ).toEqual([0, 1]);
    const r = out(
      attentionReference(q, k, vv, {
        mask: { data: Float64Array.from([Math.log(3), 0]), shape: [1, 1, 1, 2] },
      }),
    );
    expect(r[0]).toBeCloseTo(0.75, 15);
  });

  it("soft-cap bounds the scores: a huge score is capped at c", () => {
    const r = attentionReference(rows([1000, 0]), rows([1, 0], [0, 0]), rows([1, 0], [0, 1]), {
      scale: 1,
      softcap: 2,
      returnLse: true,
    });
    // scores c·tanh(1000/c) ≈ 2 and 0
    expect(out(r)[0]).toBeCloseTo(Math.exp(2) / (Math.exp(2) + 1), 12);
  });

  it("ALiBi adds slope·(j − p): with equal dots the weights are ∝ e^(−m·distance)", () => {
    const zeros = rows([0, 0], [0, 0]);
    const r = out(attentionReference(rows([0, 0]), zeros, rows([1, 0], [0, 1]), { alibiSlopes: [0.5] }));
    // decoding query at p = 1: key 0 at distance 1 gets e^(−0.5), key 1 gets 1
    expect(r[0]).toBeCloseTo(Math.exp(-0.5) / (Math.exp(-0.5) + 1), 15);
  });

  it("GQA: query head h reads kv head ⌊h·kvHeads/qHeads⌋", () => {
    // 4 query heads, 2 kv heads: heads 0, 1 read kv 0; heads 2, 3 read kv 1. One key each.
    const q = {
      data: new Float64Array(4 * 2),
      shape: [1, 4, 1, 2] as [number, number, number, number],
      layout: "bhsd" as const,
    };
    const k = {
      data: new Float64Array(2 * 2),
      shape: [1, 2, 1, 2] as [number, number, number, number],
      layout: "bhsd" as const,
    };
    const vv = {
      data: Float64Array.from([7, 7, 9, 9]),
      shape: [1, 2, 1, 2] as [number, number, number, number],
      layout: "bhsd" as const,
    };
    expect(out(attentionReference(q, k, vv))).toEqual([7, 7, 7, 7, 9, 9, 9, 9]);
  });
});

describe("linear reference by hand", () => {
  it("y = x·Wᵀ + b", () => {
    const y = linearReference(
      { data: Float64Array.from([1, 2, 3, 4]), shape: [2, 2] },
      { data: Float64Array.from([1, 0, 1, 1, 0, 2]), shape: [3, 2] },
      { data: Float64Array.from([0.5, 0, -1]), shape: [3] },
    );
    expect(Array.from(y.data)).toEqual([1.5, 3, 3, 3.5, 7, 7]);
    expect(y.shape).toEqual([2, 3]);
  });
});
