// Hand-derived small cases for the f64 reference.
import { describe, expect, it } from "vitest";
import {
  addLearnedReference,
  addSinusoidalReference,
  applyRopeReference,
  ropeSpec,
  ropeTable,
  sinusoidalReference,
} from "../src/index.js";

const t = (data: number[], shape: [number, number, number, number], layout: "bshd" | "bhsd" = "bshd") => ({
  data: Float64Array.from(data),
  shape,
  layout,
});

describe("applyRope reference by hand", () => {
  it("headDim 2: (1, 0) at position p becomes (cos p, sin p)", () => {
    const spec = ropeSpec({ headDim: 2 });
    const out = applyRopeReference(t([1, 0, 1, 0, 1, 0], [1, 3, 1, 2]), spec, { positions: 5 });
    expect(Array.from(out.data)).toEqual([
      Math.cos(5),
      Math.sin(5),
      Math.cos(6),
      Math.sin(6),
      Math.cos(7),
      Math.sin(7),
    ]);
  });

  // Half pairing rotates (x0, x2) and (x1, x3); interleaved (x0, x1) and (x2, x3). The first pair turns at
  // frequency 1, the second at 10000^(−1/2) = 0.01.
  const pairings = [
    [
      "half",
      [
        [0, 2],
        [1, 3],
      ],
    ],
    [
      "interleaved",
      [
        [0, 1],
        [2, 3],
      ],
    ],
  ] as const;
  for (const [pairing, pairs] of pairings) {
    it(`${pairing} pairing rotates ${pairs.map(([i, j]) => `(x${i}, x${j})`).join(" and ")}`, () => {
      const x = [0.5, -1, 2, 0.25];
      const p = 3;
      const out = applyRopeReference(t(x, [1, 1, 1, 4]), ropeSpec({ headDim: 4, pairing }), { positions: p });
      for (const [n, [i, j]] of pairs.entries()) {
        const angle = n === 0 ? p : p * 0.01;
        const [xi, xj] = [x[i] as number, x[j] as number];
        expect(out.data[i]).toBeCloseTo(xi * Math.cos(angle) - xj * Math.sin(angle), 15);
        expect(out.data[j]).toBeCloseTo(xj * Math.cos(angle) + xi * Math.sin(angle), 15);
      }
    });
  }

  it("partial rotary passes channels ≥ rotaryDim through", () => {
    const spec = ropeSpec({ headDim: 6, rotaryDim: 2 });
    const out = applyRopeReference(t([1, 0, 7, 8, 9, 10], [1, 1, 1, 6]), spec, { positions: 2 });
    expect(Array.from(out.data)).toEqual([Math.cos(2), Math.sin(2), 7, 8, 9, 10]);
  });

  it("per-row ids: each batch row uses its own positions", () => {
    const spec = ropeSpec({ headDim: 2 });
    const out = applyRopeReference(t([1, 0, 1, 0], [2, 1, 1, 2]), spec, { positions: [4, 9] });
    expect(Array.from(out.data)).toEqual([Math.cos(4), Math.sin(4), Math.cos(9), Math.sin(9)]);
  });

  it("bhsd indexes heads before tokens", () => {
    const spec = ropeSpec({ headDim: 2 });
    // [batch 1, heads 2, seq 2, dim 2]: head 1 token 1 is the last pair.
    const out = applyRopeReference(t([1, 0, 1, 0, 0, 0, 0, 1], [1, 2, 2, 2], "bhsd"), spec, {
      positions: 10,
    });
    expect(out.data[6]).toBeCloseTo(-Math.sin(11), 15);
    expect(out.data[7]).toBeCloseTo(Math.cos(11), 15);
  });

  it("a far position (131 072) uses the exact f64 angle", () => {
    const spec = ropeSpec({ headDim: 2 });
    const out = applyRopeReference(t([1, 0], [1, 1, 1, 2]), spec, { positions: 131072 });
    expect(out.data[0]).toBe(Math.cos(131072));
  });

  it("the table path matches the f64 path to f32 rounding", () => {
    const spec = ropeSpec({ headDim: 8, base: 500000 });
    const x = t([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 8]);
    const exact = applyRopeReference(x, spec, { positions: 100000 });
    const viaTable = applyRopeReference(x, ropeTable(spec, { start: 100000, length: 1 }), {
      positions: 100000,
    });
    for (let i = 0; i < 8; i++)
      expect(Math.abs((viaTable.data[i] as number) - (exact.data[i] as number))).toBeLessThan(2e-6);
  });
});

describe("absolute encodings by hand", () => {
  it("sinusoidal: PE[p, 2i] = sin(p/10000^(2i/d)), PE[p, 2i+1] = cos(…)", () => {
    const pe = sinusoidalReference({ start: 0, length: 2 }, 4);
    expect(Array.from(pe.data.subarray(0, 4))).toEqual([0, 1, 0, 1]);
    expect(pe.data[4]).toBe(Math.sin(1));
    expect(pe.data[5]).toBe(Math.cos(1));
    expect(pe.data[6]).toBeCloseTo(Math.sin(1 / 100), 16);
    expect(pe.data[7]).toBeCloseTo(Math.cos(1 / 100), 16);
  });

  it("addSinusoidal adds the row of each token's position", () => {
    const x = { data: Float64Array.from([1, 1, 1, 1]), shape: [1, 2, 2] as const };
    const out = addSinusoidalReference(x, { positions: 3 });
    expect(Array.from(out.data)).toEqual([
      1 + Math.sin(3),
      1 + Math.cos(3),
      1 + Math.sin(4),
      1 + Math.cos(4),
    ]);
    expect(Array.from(x.data)).toEqual([1, 1, 1, 1]);
  });

  it("addLearned adds table[position]", () => {
    const x = { data: Float64Array.from([1, 2, 3, 4]), shape: [2, 1, 2] as const };
    const table = { data: Float64Array.from([0, 0, 10, 20, 30, 40]), shape: [3, 2] };
    const out = addLearnedReference(x, table, { positions: [2, 1] });
    expect(Array.from(out.data)).toEqual([31, 42, 13, 24]);
  });
});
