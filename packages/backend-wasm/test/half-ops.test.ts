// float16 / bfloat16 in backend-wasm's element-wise kernels (applyRope, addLearned / addSinusoidal, linear,
// rmsNorm), which convert halves as they load them and round as they store. The oracle is core: its
// half encoder / decoder (halfBits, halfValue — written apart from the kernels' SIMD code) and its f64
// reference backend. Where the f32 arithmetic the kernel does is exact or is one IEEE operation, the
// expected bits are computed here (Math.fround of the operation, then core's encoder) and must match
// exactly; elsewhere the reference's result on the same half inputs, within a half ulp.
import {
  type HalfDtype,
  type HeadsTensor,
  type Tensor,
  createReferenceBackend,
  halfBits,
  halfValue,
  ropeSpec,
} from "@ropekit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WasmBackend, createWasmBackend } from "../src/index.js";

const reference = createReferenceBackend();
const halves: HalfDtype[] = ["float16", "bfloat16"];

/** ±0 as +0 (sums that start from +0 cannot keep a −0). */
const plusZero = (x: number) => (x === 0 ? 0 : x);

/** The values of half bits (NaN for every NaN pattern), or f32 data as numbers; ±0 as +0. */
function numbers(t: Tensor): number[] {
  const d = t.dtype === "float16" || t.dtype === "bfloat16" ? t.dtype : undefined;
  return Array.from(t.data, (x) => plusZero(d ? halfValue(x, d) : x));
}

/** Every 16-bit pattern, in an order that mixes neighbours across lanes and vectors. */
function allPatterns(): Uint16Array {
  return Uint16Array.from({ length: 65536 }, (_, i) => (i * 40503) & 0xffff);
}

/** A little xorshift generator: reproducible test data. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** A finite half bit pattern, often a subnormal or near the top of the range. */
function finiteHalf(random: () => number, dtype: HalfDtype): number {
  const top = dtype === "float16" ? 0x7c00 : 0x7f80;
  for (;;) {
    const r = random();
    const bits = r < 0.15 ? Math.floor(random() * 0x400) : Math.floor(random() * 65536);
    if ((bits & 0x7fff) < top) return (r < 0.5 ? bits | 0x8000 : bits & 0x7fff) & 0xffff;
  }
}

/** Half ulp bound: relative 2^-10 (f16) / 2^-7 (bf16) of |expected|, at least one subnormal step. */
function closeHalf(got: number[], want: number[], dtype: HalfDtype): void {
  expect(got.length).toBe(want.length);
  const rel = dtype === "float16" ? 2 ** -10 : 2 ** -7;
  const floor = dtype === "float16" ? 2 ** -24 : 2 ** -133;
  for (let i = 0; i < want.length; i++) {
    const e = want[i] as number;
    const a = got[i] as number;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      expect(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)), `element ${i}: ${a} vs ${e}`).toBe(
        true,
      );
    } else if (Math.abs(a - e) > rel * Math.abs(e) + floor) {
      expect.fail(`element ${i}: ${a} vs ${e}`);
    }
  }
}

describe.each([1, 2])("backend-wasm element-wise ops on halves, %i thread(s)", (threads) => {
  let backend: WasmBackend;
  beforeAll(async () => {
    backend = await createWasmBackend({ threads });
  });
  afterAll(() => backend.dispose());

  for (const dtype of halves) {
    for (const pairing of ["half", "interleaved"] as const) {
      for (const layout of ["bshd", "bhsd"] as const) {
        it(`applyRope ${dtype} ${pairing} ${layout} at position 0: every bit pattern comes back as the reference's`, async () => {
          // cos 1, sin 0: x·1 − y·0 is x itself for finite y (NaN when y is ±∞ or NaN) — in f64 and in
          // f32 alike, so the kernel must load and store every pattern exactly. headDim 20: the 4-wide
          // loops and the scalar tails (rotaryDim 18) and channels past rotaryDim left alone.
          const bits = allPatterns();
          const [heads, d] = [2, 20];
          const seq = Math.floor(bits.length / (heads * d));
          const shape: [number, number, number, number] =
            layout === "bshd" ? [1, seq, heads, d] : [1, heads, seq, d];
          const x: HeadsTensor = { data: bits.slice(0, seq * heads * d), shape, layout, dtype };
          const spec = ropeSpec({ headDim: d, rotaryDim: 18, pairing });
          const positions = new Int32Array(seq); // every token at position 0
          const got = await backend.applyRope(x, spec, { positions });
          const want = await reference.applyRope(x, spec, { positions });
          expect(got.dtype).toBe(dtype);
          expect(got.data).toBeInstanceOf(Uint16Array);
          expect(numbers(got)).toEqual(numbers(want));
        });
      }

      it(`applyRope ${dtype} ${pairing}: rotations at many positions within a half ulp of the f64 reference`, async () => {
        const random = rng(7);
        const [seq, heads, d] = [37, 3, 44];
        const data = Uint16Array.from({ length: seq * heads * d }, () => finiteHalf(random, dtype));
        const x: HeadsTensor = { data, shape: [1, seq, heads, d], layout: "bshd", dtype };
        const spec = ropeSpec({ headDim: d, pairing });
        for (const options of [{ positions: 1000 }, { positions: 3, inverse: true }]) {
          const got = await backend.applyRope(x, spec, options);
          const want = await reference.applyRope(x, spec, options);
          closeHalf(numbers(got), numbers(want), dtype);
        }
      });
    }

    it(`addLearned ${dtype} + f32 table: f32 sums rounded to nearest even — ties, subnormals, overflow, ±∞, NaN`, async () => {
      const max = dtype === "float16" ? 65504 : bfloat16Max();
      const ulpAtOne = dtype === "float16" ? 2 ** -10 : 2 ** -7;
      const sub = dtype === "float16" ? 2 ** -24 : 2 ** -133;
      // [x, table] pairs: exact ties both ways, just off ties, into and out of subnormals, past the top.
      const pairs: [number, number][] = [
        [1, ulpAtOne / 2], // tie → 1 (even)
        [1, (3 * ulpAtOne) / 2], // tie → 1 + 2 ulp (even)
        [1 + ulpAtOne, ulpAtOne / 2], // tie → 1 + 2 ulp (even, up)
        [1, ulpAtOne / 2 + 2 ** -30], // past the tie → up
        [-1, -ulpAtOne / 2], // negative tie → −1
        [sub, sub / 2], // subnormal tie (1.5 steps) → 2 steps
        [sub * 2, sub / 2], // 2.5 steps → 2
        [sub, -sub * 0.75], // → 0 (0.25 step)
        [-sub, sub * 0.25], // → −0.75 step → −1 step
        [max, max * 2 ** -12], // rounds down to max (bf16) / is 65520 → ∞ (f16: 65504 + 16)
        [max, max], // overflow → ∞
        [-max, -max], // → −∞
        [Number.POSITIVE_INFINITY, -1],
        [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY], // NaN
        [Number.NaN, 1],
        [0.1, 0.2],
        [-3.140625, 1e-3],
      ];
      const random = rng(11);
      for (let i = 0; i < 300; i++)
        pairs.push([halfValue(finiteHalf(random, dtype), dtype), random() * 4 - 2]);
      const dim = 7; // one 4-wide step and a 3-value tail per row
      while (pairs.length % dim) pairs.push([0.5, 0.25]);
      const n = pairs.length;
      const xBits = Uint16Array.from(pairs, ([a]) => halfBits(a, dtype));
      const table = Float32Array.from(pairs, ([, b]) => b);
      const x = { data: xBits, shape: [1, n / dim, dim], dtype };
      const got = await backend.addLearned(x, { data: table, shape: [n / dim, dim] }, {});
      expect(got.dtype).toBe(dtype);
      const want = Array.from(xBits, (b, i) =>
        plusZero(halfValue(halfBits(Math.fround(halfValue(b, dtype) + (table[i] as number)), dtype), dtype)),
      );
      expect(numbers(got)).toEqual(want);
    });

    it(`addLearned ${dtype} zeros + f32 table: arbitrary f32 values (every exponent) rounded as core rounds them`, async () => {
      // 0 + t is t exactly, so the output is the kernel's store rounding of t alone.
      const random = rng(19);
      const words = Uint32Array.from({ length: 1 << 17 }, () => Math.floor(random() * 2 ** 32));
      const table = new Float32Array(words.buffer);
      // Boundaries: the f16 overflow threshold and its neighbours, subnormal ties, the smallest normal.
      const edges = [
        65504,
        65519.99609375,
        65520,
        65536,
        2 ** -25,
        3 * 2 ** -25,
        2 ** -14 - 2 ** -25,
        2 ** -14,
      ];
      edges.push(2 ** -24 * 0.49, 2 ** -133, 3 * 2 ** -134, bfloat16Max(), 3.4028234663852886e38);
      for (const [i, e] of edges.entries()) {
        table[2 * i] = e;
        table[2 * i + 1] = -e;
      }
      const dim = 64;
      const rows = table.length / dim;
      const x = { data: new Uint16Array(table.length), shape: [1, rows, dim], dtype };
      const got = await backend.addLearned(x, { data: table, shape: [rows, dim] }, {});
      expect(numbers(got)).toEqual(Array.from(table, (t) => plusZero(halfValue(halfBits(t, dtype), dtype))));
    });

    it(`addLearned: f32 x + ${dtype} table, and ${dtype} x + ${dtype} table in place on a resident tensor`, async () => {
      const bits = allPatterns();
      const dim = 12;
      const rows = Math.floor(bits.length / dim);
      const tableBits = bits.slice(0, rows * dim);
      const table = { data: tableBits, shape: [rows, dim], dtype };
      // f32 x (zeros): each f32 output is the table value, exactly (a sum with +0).
      const zeros = { data: new Float32Array(rows * dim), shape: [1, rows, dim] };
      const f32Out = await backend.addLearned(zeros, table, {});
      expect(f32Out.data).toBeInstanceOf(Float32Array);
      expect(numbers(f32Out)).toEqual(Array.from(tableBits, (b) => plusZero(halfValue(b, dtype))));
      // A resident half x, in place: written where it lies, each element round(x + t) in core's rounding.
      const x = backend.tensor([1, rows, dim], undefined, dtype);
      const random = rng(5);
      const xBits = Uint16Array.from({ length: rows * dim }, () => finiteHalf(random, dtype));
      x.data.set(xBits);
      const out = await backend.addLearned({ data: x.data, shape: [1, rows, dim], dtype }, table, {
        inPlace: true,
      });
      expect(out.data.buffer).toBe(x.data.buffer);
      const want = Array.from(xBits, (b, i) =>
        plusZero(
          halfValue(
            halfBits(Math.fround(halfValue(b, dtype) + halfValue(tableBits[i] as number, dtype)), dtype),
            dtype,
          ),
        ),
      );
      expect(numbers({ data: x.data, shape: [rows * dim], dtype })).toEqual(want);
      x.dispose();
    });

    it(`addSinusoidal on ${dtype} x within a half ulp of the f64 reference`, async () => {
      const random = rng(3);
      const [seq, dim] = [33, 30];
      const data = Uint16Array.from({ length: seq * dim }, () => finiteHalf(random, dtype) & 0x3fff);
      const x = { data, shape: [1, seq, dim], dtype };
      const got = await backend.addSinusoidal(x, { positions: 5 });
      const want = await reference.addSinusoidal(x, { positions: 5 });
      expect(got.dtype).toBe(dtype);
      // The kernel adds the f64 encoding rounded to f32, the reference the f64 one: one more rounding.
      closeHalf(numbers(got), numbers(want), dtype);
    });

    it(`linear: f32 x with ${dtype} weights reads every weight bit pattern exactly (8-wide, 4-wide and scalar columns)`, async () => {
      const bits = allPatterns();
      const n = 13; // columns 0-7: the 8-wide step; 8-11: the 4-wide step; 12: the scalar tail
      for (const j of [2, 6, 9, 12]) {
        // Row o of W holds pattern o in column j, zeros elsewhere; x is one-hot at j, so y[o] = W[o][j].
        const w = new Uint16Array(bits.length * n);
        for (let o = 0; o < bits.length; o++) w[o * n + j] = bits[o] as number;
        const x = new Float32Array(n);
        x[j] = 1;
        const got = await backend.linear(
          { data: x, shape: [1, n] },
          { data: w, shape: [bits.length, n], dtype },
        );
        expect(got.data).toBeInstanceOf(Float32Array);
        expect(numbers(got)).toEqual(Array.from(bits, (b) => plusZero(halfValue(b, dtype))));
      }
    });

    it(`linear: ${dtype} x reads every bit pattern and rounds f32 products to nearest even`, async () => {
      const bits = allPatterns();
      const n = 13;
      const rows = Math.floor(bits.length / n);
      const xBits = bits.slice(0, rows * n);
      const x = { data: xBits, shape: [rows, n], dtype };
      // W row o is one-hot at column cols[o] with value scales[o]: y[r][o] = round(fround(x[r][cols[o]]·s)).
      const cols = [1, 5, 10, 12, 7];
      const ulp = dtype === "float16" ? 2 ** -11 : 2 ** -8;
      const scales = [1, 1 + ulp, 1 + 3 * ulp, 0.75, -1.0000001];
      const w = new Float32Array(cols.length * n);
      for (const [o, c] of cols.entries()) w[o * n + c] = scales[o] as number;
      const got = await backend.linear(x, { data: w, shape: [cols.length, n] });
      expect(got.dtype).toBe(dtype);
      const want: number[] = [];
      for (let r = 0; r < rows; r++) {
        // A row holding ±∞ or NaN anywhere gives NaN in every output that multiplies it by 0.
        const rowValues = Array.from(xBits.subarray(r * n, (r + 1) * n), (b) => halfValue(b, dtype));
        const special = rowValues.some((v) => !Number.isFinite(v));
        for (const [o, c] of cols.entries()) {
          const product = Math.fround((rowValues[c] as number) * (scales[o] as number));
          const rest = rowValues.some((v, i) => i !== c && !Number.isFinite(v));
          const value = special && rest ? Number.NaN : product;
          want.push(plusZero(halfValue(halfBits(value, dtype), dtype)));
        }
      }
      expect(numbers(got)).toEqual(want);
    });

    it(`linear: ${dtype} x, weights and bias, and f32 x with ${dtype} weights, within the reference's bounds`, async () => {
      const random = rng(9);
      const [rows, inF, outF] = [5, 70, 11];
      const val = () => (random() * 2 - 1) * 0.5;
      const xf = Float32Array.from({ length: rows * inF }, val);
      const wf = Float32Array.from({ length: outF * inF }, val);
      const bf = Float32Array.from({ length: outF }, val);
      const half = (f: Float32Array, shape: number[]) => ({
        data: Uint16Array.from(f, (v) => halfBits(v, dtype)),
        shape,
        dtype,
      });
      const weight = half(wf, [outF, inF]);
      const bias = half(bf, [outF]);
      const inputs: Tensor[] = [half(xf, [rows, inF]), { data: xf, shape: [rows, inF] }];
      for (const x of inputs) {
        const got = await backend.linear(x, weight, bias);
        const want = await reference.linear(x, weight, bias);
        expect(got.dtype ?? "float32").toBe(x.dtype ?? "float32");
        if (x.dtype) closeHalf(numbers(got), numbers(want), dtype);
        else {
          const e = numbers(want);
          for (const [i, a] of numbers(got).entries())
            expect(Math.abs(a - (e[i] as number))).toBeLessThan(1e-5);
        }
      }
    });

    it(`rmsNorm on ${dtype}: subnormal rows, ±∞ / NaN rows and weights of ${dtype} and f32, against the reference`, async () => {
      const random = rng(13);
      const dim = 23; // 4-wide loops and a 3-value tail
      const rows = 9;
      const data = Uint16Array.from({ length: rows * dim }, () => finiteHalf(random, dtype));
      // Row 1: subnormals only (flushed to zero, it would normalise to 0 or NaN); row 2: a ±∞; row 3: a NaN.
      for (let c = 0; c < dim; c++) data[dim + c] = (1 + ((c * 37) % 0x3ff)) | (c & 1 ? 0x8000 : 0);
      data[2 * dim + 5] = dtype === "float16" ? 0xfc00 : 0xff80;
      data[3 * dim + 20] = dtype === "float16" ? 0x7e00 : 0x7fc0;
      const x = { data, shape: [rows, dim], dtype };
      const wf = Float32Array.from({ length: dim }, () => random() * 2 - 0.5);
      const weights: (Tensor | undefined)[] = [
        undefined,
        { data: wf, shape: [dim] },
        { data: Uint16Array.from(wf, (v) => halfBits(v, dtype)), shape: [dim], dtype },
      ];
      for (const weight of weights) {
        const got = await backend.rmsNorm(x, weight, { eps: 1e-30 });
        const want = await reference.rmsNorm(x, weight, { eps: 1e-30 });
        expect(got.dtype).toBe(dtype);
        const g = numbers(got);
        const e = numbers(want);
        expect(e.slice(dim, 2 * dim).every((v) => v !== 0 && Number.isFinite(v))).toBe(true);
        closeHalf(g, e, dtype);
      }
    });

    it(`rmsNorm and applyRope in place on a resident ${dtype} tensor write half bits where it lies`, async () => {
      const random = rng(17);
      const [seq, heads, d] = [6, 2, 16];
      const bits = Uint16Array.from({ length: seq * heads * d }, () => finiteHalf(random, dtype) & 0xbfff);
      const t = backend.tensor([1, seq, heads, d], "bshd", dtype);
      t.data.set(bits);
      const spec = ropeSpec({ headDim: d });
      const plain = await backend.applyRope(
        { data: bits, shape: [1, seq, heads, d], layout: "bshd", dtype },
        spec,
        {
          positions: 9,
        },
      );
      const rotated = await backend.applyRope(t, spec, { positions: 9, inPlace: true });
      expect(rotated.data.buffer).toBe(t.data.buffer);
      expect(Array.from(t.data)).toEqual(Array.from(plain.data));
      const flat = { data: t.data, shape: [seq * heads, d], dtype };
      const want = await reference.rmsNorm({ ...flat, data: t.data.slice() });
      const normed = await backend.rmsNorm(flat, undefined, { inPlace: true });
      expect(normed.data.buffer).toBe(t.data.buffer);
      closeHalf(numbers({ ...flat, data: t.data }), numbers(want), dtype);
      t.dispose();
    });
  }

  it("f32 data keeps the f32 kernels: applyRope, addLearned, linear and rmsNorm within 1e-6 of the f64 reference", async () => {
    const random = rng(21);
    const val = () => Math.fround(random() * 4 - 2);
    const [seq, heads, d] = [9, 3, 36];
    const x: HeadsTensor = {
      data: Float32Array.from({ length: seq * heads * d }, val),
      shape: [1, seq, heads, d],
      layout: "bshd",
    };
    const spec = ropeSpec({ headDim: d });
    const checks: [Tensor, Tensor][] = [];
    checks.push([
      await backend.applyRope(x, spec, { positions: 40 }),
      await reference.applyRope(x, spec, { positions: 40 }),
    ]);
    const e = { data: Float32Array.from({ length: seq * 30 }, val), shape: [1, seq, 30] };
    const table = { data: Float32Array.from({ length: 20 * 30 }, val), shape: [20, 30] };
    checks.push([
      await backend.addLearned(e, table, { positions: 4 }),
      await reference.addLearned(e, table, { positions: 4 }),
    ]);
    const lx = { data: Float32Array.from({ length: 4 * 37 }, val), shape: [4, 37] };
    const lw = { data: Float32Array.from({ length: 9 * 37 }, val), shape: [9, 37] };
    const lb = { data: Float32Array.from({ length: 9 }, val), shape: [9] };
    checks.push([await backend.linear(lx, lw, lb), await reference.linear(lx, lw, lb)]);
    const nw = { data: Float32Array.from({ length: 37 }, val), shape: [37] };
    checks.push([await backend.rmsNorm(lx, nw), await reference.rmsNorm(lx, nw)]);
    for (const [got, want] of checks) {
      expect(got.data).toBeInstanceOf(Float32Array);
      expect(got.dtype ?? "float32").toBe("float32");
      const w = Array.from(want.data);
      const scale = Math.max(...w.map(Math.abs));
      for (const [i, a] of Array.from(got.data).entries())
        expect(Math.abs(a - (w[i] as number))).toBeLessThanOrEqual(1e-6 * scale);
    }
  });
});

describe("backend-wasm halves: one thread and two give the same bits", () => {
  it("applyRope (bshd streamed on one thread, copied on two), addLearned, linear and rmsNorm", async () => {
    const one = await createWasmBackend({ threads: 1 });
    const two = await createWasmBackend({ threads: 2 });
    try {
      for (const dtype of halves) {
        const random = rng(dtype === "float16" ? 31 : 37);
        const [seq, heads, d] = [300, 4, 64]; // bshd streaming takes several chunks
        const bits = Uint16Array.from({ length: seq * heads * d }, () => finiteHalf(random, dtype));
        const x: HeadsTensor = { data: bits, shape: [1, seq, heads, d], layout: "bshd", dtype };
        const spec = ropeSpec({ headDim: d });
        const run = async (b: WasmBackend) => [
          Array.from((await b.applyRope(x, spec, { positions: 17 })).data),
          Array.from((await b.addSinusoidal({ data: bits, shape: [1, seq * heads, d], dtype })).data),
          Array.from(
            (
              await b.linear(
                { data: bits, shape: [seq * heads, d], dtype },
                { data: bits.subarray(0, 40 * d), shape: [40, d], dtype },
              )
            ).data,
          ),
          Array.from((await b.rmsNorm({ data: bits, shape: [seq * heads, d], dtype })).data),
        ];
        const [a, b] = [await run(one), await run(two)];
        expect(a).toEqual(b);
      }
    } finally {
      one.dispose();
      two.dispose();
    }
  });
});

/** The largest finite bfloat16: (2 − 2^−7)·2^127. */
function bfloat16Max(): number {
  return (2 - 2 ** -7) * 2 ** 127;
}
