// float16 / bfloat16 in backend-wasm's attention kernels: every half bit pattern read exactly, f32 results
// rounded to nearest even as core's converters round them, and attention in halves (decode and tiled
// kernels, resident half caches, mixed dtypes) against core's f64 reference on the same half values.
import {
  type AttentionOptions,
  type HalfDtype,
  type HeadsTensor,
  createReferenceBackend,
  halfBits,
  halfValue,
} from "@ropekit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WasmBackend, createWasmBackend } from "../src/index.js";

const reference = createReferenceBackend();
const halves: HalfDtype[] = ["float16", "bfloat16"];

function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, j) => Math.sin(j * 0.731 + seed) * 1.5);
}

/** A bhsd tensor of `dtype` from f32 values (halves rounded by core's converter). */
function tensor(
  seq: number,
  count: number,
  dim: number,
  seed: number,
  dtype: "float32" | HalfDtype,
): HeadsTensor {
  const f = values(seq * count * dim, seed);
  const shape: [number, number, number, number] = [1, count, seq, dim];
  if (dtype === "float32") return { data: f, shape, layout: "bhsd" };
  return { data: Uint16Array.from(f, (x) => halfBits(x, dtype)), shape, layout: "bhsd", dtype };
}

/** Half bits as numbers (NaN for every NaN pattern), f32 data as is. */
function numbers(data: ArrayLike<number>, dtype: string | undefined): number[] {
  const d = dtype === "float16" || dtype === "bfloat16" ? dtype : undefined;
  return Array.from(data, (x) => (d ? halfValue(x, d) : x));
}

describe.each([1, 2])("backend-wasm halves, %i thread(s)", (threads) => {
  let backend: WasmBackend;
  beforeAll(async () => {
    backend = await createWasmBackend({ threads });
  });
  afterAll(() => backend.dispose());

  it("describes float32, float16 and bfloat16", () => {
    expect(backend.describe().dtypes).toEqual(["float32", "float16", "bfloat16"]);
  });

  for (const dtype of halves) {
    it(`${dtype} V: every one of the 65536 bit patterns comes out as its exact value (one key, weight 1)`, async () => {
      const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
      const q = tensor(1, 1, 8, 1, "float32");
      const k = tensor(1, 1, 8, 2, "float32");
      const v: HeadsTensor = { data: bits, shape: [1, 1, 1, 65536], layout: "bhsd", dtype };
      const got = await backend.attention(q, k, v, {});
      // ±0 alike: the weighted sum starts from +0, so −0 comes out as +0 (as any sum of one term does).
      const plusZero = (x: number) => (x === 0 ? 0 : x);
      const expected = Array.from(bits, (b) => plusZero(halfValue(b, dtype)));
      expect(Array.from(got.output.data, plusZero)).toEqual(expected);
      expect(expected.filter(Number.isNaN).length).toBe(dtype === "float16" ? 2046 : 254);
    });

    it(`${dtype} V: every finite bit pattern on the in-place one-row path (no ±∞/NaN to divert it)`, async () => {
      const finite = dtype === "float16" ? 0x7c00 : 0x7f80;
      const bits = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((b) => (b & 0x7fff) < finite);
      const q = tensor(1, 1, 8, 1, "float32");
      const k = tensor(1, 1, 8, 2, "float32");
      const v: HeadsTensor = { data: bits, shape: [1, 1, 1, bits.length], layout: "bhsd", dtype };
      const got = await backend.attention(q, k, v, {});
      const plusZero = (x: number) => (x === 0 ? 0 : x);
      expect(Array.from(got.output.data, plusZero)).toEqual(
        Array.from(bits, (b) => plusZero(halfValue(b, dtype))),
      );
    });

    it(`${dtype} output: f32 values rounded to nearest even, as core rounds them`, async () => {
      // Around every binade, ties, subnormals, overflow to ∞, and NaN.
      const f = new Float32Array(4096);
      for (let i = 0; i < f.length; i++) {
        const e = (i % 80) - 40;
        f[i] =
          (i & 1 ? -1 : 1) * 2 ** e * (1 + ((i * 2654435761) % 1024) / 1024 + (i % 3 === 0 ? 2 ** -11 : 0));
      }
      f.set([65504, 65519, 65520, 1e6, 2 ** -25, 2 ** -24 * 1.5, 2 ** -14 * 0.999, 3.4e38, Number.NaN], 0);
      const q: HeadsTensor = { data: new Uint16Array(8), shape: [1, 1, 1, 8], layout: "bhsd", dtype };
      const k = tensor(1, 1, 8, 2, "float32");
      const v: HeadsTensor = { data: f, shape: [1, 1, 1, f.length], layout: "bhsd" };
      const got = await backend.attention(q, k, v, {});
      expect(got.output.dtype).toBe(dtype);
      expect(numbers(got.output.data, dtype)).toEqual(
        numbers(
          Array.from(f, (x) => halfBits(x, dtype)),
          dtype,
        ),
      );
    });
  }

  const shapes = [
    { name: "decode GQA 4, d 128", qHeads: 8, kvHeads: 2, qLen: 1, kvLen: 1100, d: 128 },
    { name: "decode MHA, long cache", qHeads: 2, kvHeads: 2, qLen: 1, kvLen: 2300, d: 64 },
    { name: "tiled (prefill), causal", qHeads: 4, kvHeads: 2, qLen: 40, kvLen: 70, d: 32, causal: true },
    { name: "tiled, head size 6 (tails)", qHeads: 2, kvHeads: 1, qLen: 3, kvLen: 50, d: 6 },
  ];
  const combos: ["float32" | HalfDtype, "float32" | HalfDtype][] = [
    ["float32", "float16"],
    ["float32", "bfloat16"],
    ["float16", "float16"],
    ["bfloat16", "bfloat16"],
  ];
  for (const s of shapes) {
    for (const [qd, kvd] of combos) {
      it(`${s.name}: q ${qd}, K/V ${kvd} against the f64 reference`, async () => {
        const q = tensor(s.qLen, s.qHeads, s.d, 1, qd);
        const k = tensor(s.kvLen, s.kvHeads, s.d, 2, kvd);
        const v = tensor(s.kvLen, s.kvHeads, s.d, 3, kvd);
        const options: AttentionOptions = { causal: s.causal ?? false, returnLse: true };
        const ref = await reference.attention(q, k, v, options);
        const got = await backend.attention(q, k, v, options);
        expect(got.output.dtype ?? "float32").toBe(qd);
        const a = numbers(got.output.data, got.output.dtype);
        const e = numbers(ref.output.data, ref.output.dtype);
        // f32 output: f32 arithmetic on exact inputs. Half output: the reference rounds its f64 result
        // once, the kernel its f32 result — at most one half ulp apart (2^−11 / 2^−8 relative, ×2 slack).
        const ulp = qd === "float16" ? 2 ** -10 : qd === "bfloat16" ? 2 ** -7 : 2e-5;
        let worst = 0;
        for (let i = 0; i < e.length; i++) {
          const tol = ulp * Math.max(Math.abs(e[i] as number), 2 ** -14) + 1e-6;
          worst = Math.max(worst, Math.abs((a[i] as number) - (e[i] as number)) / tol);
        }
        expect(worst).toBeLessThanOrEqual(1);
        const lse = got.lse as Float32Array;
        for (let i = 0; i < lse.length; i++) expect(lse[i]).toBeCloseTo(ref.lse?.[i] as number, 4);
      });
    }
  }

  // A NaN in v at channel 9 (the first 32-channel pass over V in place) or 40 (the second).
  for (const [dtype, vChannel] of halves.flatMap((t) => [9, 40].map((c) => [t, c] as const))) {
    it(`one-row decode (MHA) on ${dtype} K/V read in place: ±∞ in k and NaN in v (channel ${vChannel}) give the reference's rows`, async () => {
      const [heads, kvLen, d] = [4, 700, 64];
      const k = tensor(kvLen, heads, d, 2, dtype);
      const v = tensor(kvLen, heads, d, 3, dtype);
      const inf = dtype === "float16" ? 0x7c00 : 0x7f80;
      (k.data as Uint16Array)[(1 * kvLen + 100) * d + 3] = inf; // head 1, key 100
      (v.data as Uint16Array)[(2 * kvLen + 650) * d + vChannel] = dtype === "float16" ? 0x7e00 : 0x7fc0; // NaN
      const q = tensor(1, heads, d, 1, "float32");
      const ref = await reference.attention(q, k, v, { returnLse: true });
      const got = await backend.attention(q, k, v, { returnLse: true });
      const e = Array.from(ref.output.data);
      const a = Array.from(got.output.data);
      expect(e.some(Number.isNaN)).toBe(true);
      for (let i = 0; i < e.length; i++) {
        const x = e[i] as number;
        if (Number.isNaN(x)) expect(a[i]).toBeNaN();
        else expect(Math.abs((a[i] as number) - x)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(x)));
      }
    });
  }

  for (const dtype of halves) {
    it(`a resident ${dtype} KV cache is read where it lies, and a NaN in it reaches the rows that see it`, async () => {
      const kvLen = 1500;
      const k = backend.tensor([1, 2, kvLen, 64], "bhsd", dtype);
      const v = backend.tensor([1, 2, kvLen, 64], "bhsd", dtype);
      expect(k.data).toBeInstanceOf(Uint16Array);
      expect(k.dtype).toBe(dtype);
      k.data.set(tensor(kvLen, 2, 64, 2, dtype).data as Uint16Array);
      v.data.set(tensor(kvLen, 2, 64, 3, dtype).data as Uint16Array);
      v.data[(kvLen + 700) * 64 + 5] = dtype === "float16" ? 0x7e00 : 0x7fc0; // kv head 1, key 700
      const q = tensor(1, 8, 64, 1, "float32");
      const ref = await reference.attention(q, k, v, { causal: true });
      const got = await backend.attention(q, k, v, { causal: true });
      const a = Array.from(got.output.data);
      const e = Array.from(ref.output.data);
      for (let h = 0; h < 8; h++) {
        // Query heads 4-7 share kv head 1: channel 5 is NaN there, like the reference's.
        expect(Number.isNaN(a[h * 64 + 5] as number)).toBe(h >= 4);
      }
      for (let i = 0; i < e.length; i++) {
        if (!Number.isNaN(e[i] as number))
          expect(Math.abs((a[i] as number) - (e[i] as number))).toBeLessThan(1e-5);
      }
      k.dispose();
      v.dispose();
    });
  }
});
