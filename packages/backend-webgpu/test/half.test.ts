import {
  type Dtype,
  type HeadsTensor,
  type Tensor,
  addLearnedReference,
  attentionReference,
  bfloat16Value,
  decodeHalf,
  encodeHalf,
  float16Value,
  halfBits,
  linearReference,
  maxRelativeError,
  rmsNormReference,
  widenTensor,
} from "@ropekit/core";
import { dtypeTolerance } from "@ropekit/core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GpuContext } from "../src/context.js";
import { createGpuDevice } from "../src/device.js";
import { type WebgpuBackend, createWebgpuBackend } from "../src/index.js";
import { halfPasses, halvesOf, recordDecode, recordEncode } from "../src/kernels/half-wgsl.js";
import { webgpuUnavailable, whenWebgpu } from "./availability.js";

// float16 and bfloat16 on the GPU (Dawn, SwiftShader here: no shader-f16). Oracles never come from the
// WGSL under test: core's encoder (float16Bits/bfloat16Bits through encodeHalf, halfBits) and decoder, and
// core's f64 references on the decoded inputs.
const unavailable = await webgpuUnavailable();

type Half = "float16" | "bfloat16";
const HALVES: readonly Half[] = ["float16", "bfloat16"];
/** The f32 main suite's tolerance, which the dtype tolerances build on (see core's dtypeTolerance). */
const F32_TOL = 1e-5;

const isNaNBits = (bits: number, dtype: Half) =>
  dtype === "float16"
    ? (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0
    : (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;

/** Bit-for-bit equality of half outputs, except that any NaN matches any NaN (GPUs pick NaN signs freely). */
function expectSameBits(actual: Uint16Array, expected: Uint16Array, dtype: Half, what: string): void {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const same = a === e || (isNaNBits(a, dtype) && isNaNBits(e, dtype));
    if (!same && bad.length < 8) bad.push(`[${i}] got 0x${a.toString(16)}, want 0x${e.toString(16)}`);
  }
  expect(bad, `${what} (${dtype})`).toEqual([]);
}

/** Seeded uniform values in [-1, 1). */
function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function half(
  values: ArrayLike<number>,
  shape: readonly number[],
  dtype: Half,
  layout?: "bshd" | "bhsd",
): Tensor {
  return { data: encodeHalf(values, dtype), shape, dtype, ...(layout ? { layout } : {}) };
}

function stored(
  values: Float32Array,
  shape: readonly number[],
  dtype: Dtype,
  layout: "bshd" | "bhsd",
): HeadsTensor {
  if (dtype === "float32") return { data: values, shape, layout } as HeadsTensor;
  return half(values, shape, dtype as Half, layout) as HeadsTensor;
}

const valuesOf = (t: Tensor): Float64Array => Float64Array.from(widenTensor(t, "t").data);

whenWebgpu("half precision, Node + Dawn", unavailable, () => {
  describe("the conversion passes, against core's encoder and decoder", () => {
    let ctx: GpuContext;
    beforeAll(async () => {
      ctx = new GpuContext(await createGpuDevice());
    });
    afterAll(() => ctx.dispose());

    const encodeOnGpu = async (values: Float32Array, dtype: Half): Promise<Uint16Array> => {
      const passes = await halfPasses(ctx, dtype);
      const [words] = await ctx.run((job) => {
        const src = job.upload(values, "values");
        job.readHalves(recordEncode(job, passes, src, values.length), values.length);
      });
      return halvesOf(words as Float32Array, values.length);
    };

    /** Edge cases of both formats: ties at every scale, subnormal and overflow boundaries, ±0, ±∞, NaN. */
    function edgeCases(): Float32Array {
      const v: number[] = [0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN];
      for (const e of [-26, -25, -24, -20, -15, -14, -13, -1, 0, 1, 10, 15, 16, 100, 127]) {
        for (const p of [11, 8]) {
          // Exact values, ties (both parities) and values just either side of a tie, at 2^e.
          const ulp = 2 ** (e - p + 1);
          for (const k of [0, 1, 2, 3]) {
            for (const d of [0, 0.5, 0.5 - 2 ** -12, 0.5 + 2 ** -12, 1.5]) {
              const x = 2 ** e + (k + d) * ulp;
              v.push(x, -x);
            }
          }
        }
      }
      // float16: 65504 (max), the midpoint 65520 (→ ∞) and just below it; the largest subnormal and
      // the smallest normal; the smallest subnormal 2^-24 and half of it (a tie to 0).
      v.push(
        65504,
        65519.99,
        65520,
        65536,
        2 ** -14 - 2 ** -24,
        2 ** -14 - 2 ** -25,
        2 ** -24,
        2 ** -25,
        3 * 2 ** -26,
      );
      // bfloat16: the largest finite f32 values (→ ∞ past the midpoint), f32 subnormals.
      v.push(
        3.3895313892515355e38,
        3.4028234663852886e38,
        2 ** -126,
        2 ** -127,
        2 ** -133,
        2 ** -134,
        2 ** -149,
      );
      return Float32Array.from(v);
    }

    /** f32 values from random bit patterns: every exponent, sign and fraction (NaN and ∞ included). */
    function randomBits(n: number): Float32Array {
      const bits = new Uint32Array(n);
      let s = 12345;
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const hi = s >>> 16;
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        bits[i] = ((hi << 16) | (s >>> 16)) >>> 0;
      }
      return new Float32Array(bits.buffer);
    }

    for (const dtype of HALVES) {
      it(`encode (${dtype}): round to nearest even, bit for bit, on edge cases and 2^17 random f32 bit patterns`, async () => {
        for (const values of [edgeCases(), randomBits(1 << 17)]) {
          const got = await encodeOnGpu(values, dtype);
          expectSameBits(got, encodeHalf(values, dtype), dtype, "encode");
        }
      });

      it(`decode (${dtype}): every finite bit pattern, exactly (subnormals included)`, async () => {
        const finite: number[] = [];
        for (let b = 0; b < 65536; b++) {
          const exp = dtype === "float16" ? (b >> 10) & 0x1f : (b >> 7) & 0xff;
          if (exp !== (dtype === "float16" ? 0x1f : 0xff)) finite.push(b);
        }
        // An odd count: the last word holds one half and zero padding.
        finite.push(0x3c01);
        const bits = Uint16Array.from(finite);
        const passes = await halfPasses(ctx, dtype);
        const [out] = await ctx.run((job) => {
          const src = job.upload(bits, "bits");
          job.read(recordDecode(job, passes, src, bits.length), bits.length);
        });
        const expected = decodeHalf(bits, dtype);
        const got = out as Float32Array;
        let wrong = 0;
        let first = "";
        for (let i = 0; i < bits.length; i++) {
          if (!Object.is(got[i], expected[i])) {
            if (!first) first = `0x${(bits[i] as number).toString(16)}: got ${got[i]}, want ${expected[i]}`;
            wrong++;
          }
        }
        // bfloat16 subnormals are f32 subnormals: a GPU may flush those (WGSL allows it). None may be wrong
        // otherwise.
        expect(first, `${wrong} wrong decodes`).toBe("");
      });
    }
  });

  describe("ops on special values, bit for bit against core's f64 reference and encoder", () => {
    let backend: WebgpuBackend;
    beforeAll(async () => {
      backend = await createWebgpuBackend();
    });
    afterAll(() => backend.dispose());

    for (const dtype of HALVES) {
      const p = dtype === "float16" ? 11 : 8;
      const u = 2 ** -p; // half an ulp at 1
      const big = dtype === "float16" ? 65504 : 3.3895313892515355e38;
      const bigUlp = dtype === "float16" ? 32 : 2 ** 120;

      it(`addLearned (${dtype} x and table): ties, subnormal sums, overflow to ±∞, ∞ and NaN`, async () => {
        const sub = dtype === "float16" ? 2 ** -24 : 2 ** -133;
        const minNormal = dtype === "float16" ? 2 ** -14 : 2 ** -126;
        // Pairs (x, t) whose f32 sum is exact, so rounding it once to the dtype is the reference's rounding.
        const pairs: [number, number][] = [
          [1, u], // tie: stays 1 (even)
          [1 + 2 * u, u], // tie: up to 1 + 4u (even)
          [-1, -u],
          [1, u * 1.5], // past the tie: up
          [2, u / 2],
          [big, bigUlp / 2], // the midpoint past the max: ±∞
          [-big, -bigUlp / 2],
          [big, bigUlp / 4], // below it: the max
          [Number.POSITIVE_INFINITY, 1],
          [Number.NEGATIVE_INFINITY, -1],
          [Number.NaN, 1],
          [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], // NaN
          [1, -1], // +0
          [0.5, 0.25],
          [3, 5],
        ];
        if (dtype === "float16") {
          // Subnormal results, exact and rounded (the sums are normal f32 values).
          pairs.push([minNormal, -sub], [2 * sub, sub], [minNormal, -minNormal / 2], [sub, -sub]);
        }
        const dim = pairs.length;
        const x = half(
          pairs.map(([a]) => a),
          [1, 1, dim],
          dtype,
        );
        const table = half(
          pairs.map(([, b]) => b),
          [1, dim],
          dtype,
        );
        const out = await backend.addLearned(x as never, table, { positions: [0] } as never);
        expect(out.dtype).toBe(dtype);
        const expected = encodeHalf(
          addLearnedReference(widenTensor(x, "x") as never, widenTensor(table, "t")).data,
          dtype,
        );
        expectSameBits(out.data as Uint16Array, expected, dtype, "addLearned");
        // In place: the bits land in the caller's array.
        const copy = { ...x, data: (x.data as Uint16Array).slice() };
        await backend.addLearned(copy as never, table, { positions: [0], inPlace: true } as never);
        expectSameBits(copy.data, expected, dtype, "addLearned in place");
      });

      it(`linear (${dtype}): exact dot products rounded once — ties, overflow to ∞, subnormals, ∞ and NaN inputs`, async () => {
        // W: rows picking combinations of x's values; every f32 accumulation below is exact.
        const x = [1, u, 2 * u, 0.5, big / 2, 0.25];
        const rows: number[][] = [
          [1, 1, 0, 0, 0, 0], // 1 + u: tie → 1
          [1, 0, 1, 0, 0, 0], // 1 + 2u: exact
          [1, 1, 1, 0, 0, 0], // 1 + 3u: tie → 1 + 4u
          [0, 0, 0, 0, 2, 0], // big: exact
          [0, 0, 0, 0, 2, 0.25 * 0], // again (bias adds below)
          [0, -1, 0, 0, 0, 0], // −u
          [0, 0, 0, 2, 0, 4], // 2
          [0, 0, 0, -1, 0, -2], // −1
        ];
        const bias = [0, 0, 0, bigUlp / 2, -bigUlp / 4, 0, 0, 0]; // big + ulp/2 → ∞; big − ulp/4 → big
        const xt = half(x, [1, x.length], dtype);
        const wt = half(rows.flat(), [rows.length, x.length], dtype);
        const bt = half(bias, [rows.length], dtype);
        const out = await backend.linear(xt, wt, bt);
        expect(out.dtype).toBe(dtype);
        const expected = encodeHalf(
          linearReference(widenTensor(xt, "x"), widenTensor(wt, "w"), widenTensor(bt, "b")).data,
          dtype,
        );
        expectSameBits(out.data as Uint16Array, expected, dtype, "linear");

        // f32 activations with half weights: f32 out, f32 accumulation of the exact half values.
        const xf = { data: Float32Array.from([0.1, -0.2, 0.3, 0.4, 0.5, -0.6]), shape: [1, 6] };
        const small = half(Array.from(seeded(6 * 8, 3)), [8, 6], dtype);
        const mixed = await backend.linear(xf, small);
        expect(mixed.data).toBeInstanceOf(Float32Array);
        expect(
          maxRelativeError(mixed.data, linearReference(xf, widenTensor(small, "w")).data),
        ).toBeLessThanOrEqual(F32_TOL);

        if (dtype === "float16") {
          // Subnormal results: 2^-24 multiples, exact in f32.
          const xs = half([2 ** -14, 2 ** -20], [1, 2], dtype);
          const ws = half([0.5, 0, 0, 0.25, 0.5, -0.5, 2 ** -4, 0], [4, 2], dtype);
          const got = await backend.linear(xs, ws);
          const want = encodeHalf(linearReference(widenTensor(xs, "x"), widenTensor(ws, "w")).data, dtype);
          expectSameBits(got.data as Uint16Array, want, dtype, "linear subnormal results");
        }

        // ∞ and NaN inputs propagate: rows [∞, 1], [NaN, 1], [1, −∞] against W = [[1, 1], [1, −1], [0.5, 0]].
        const xi = half(
          [Number.POSITIVE_INFINITY, 1, Number.NaN, 1, 1, Number.NEGATIVE_INFINITY],
          [3, 2],
          dtype,
        );
        const wi = half([1, 1, 1, -1, 0.5, 0.25], [3, 2], dtype);
        const gi = (await backend.linear(xi, wi)).data as Uint16Array;
        const wantI = encodeHalf(linearReference(widenTensor(xi, "x"), widenTensor(wi, "w")).data, dtype);
        expectSameBits(gi, wantI, dtype, "linear with ∞ and NaN inputs");
        expect(gi[0]).toBe(halfBits(Number.POSITIVE_INFINITY, dtype));
      });

      it(`rmsNorm (${dtype} x and weight): rows with ∞, NaN, zeros, subnormals and huge values`, async () => {
        const dim = 8;
        const tiny = dtype === "float16" ? 2 ** -24 : 2 ** -120;
        const rowsValues = [
          [1, 2, 3, 4, 5, 6, 7, 8],
          [Number.POSITIVE_INFINITY, 1, 1, 1, 1, 1, 1, 1],
          [Number.NaN, 1, 1, 1, 1, 1, 1, 1],
          [0, 0, 0, 0, 0, 0, 0, 0],
          [tiny, -tiny, 2 * tiny, 3 * tiny, tiny, tiny, -tiny, tiny],
          [big, big, -big, big / 2, big / 4, -big, big, big],
          [-0.5, 0.25, 0.125, -1, 1, 0.75, -0.75, 0.5],
        ];
        const x = half(rowsValues.flat(), [rowsValues.length, dim], dtype);
        const w = half(Array.from(seeded(dim, 9)), [dim], dtype);
        for (const weight of [undefined, w]) {
          const out = await backend.rmsNorm(x, weight, { eps: 0 });
          expect(out.dtype).toBe(dtype);
          const ref = rmsNormReference(widenTensor(x, "x"), weight && widenTensor(weight, "w"), {
            eps: 0,
          }).data;
          const expected = encodeHalf(ref, dtype);
          const got = out.data as Uint16Array;
          // Rows the CPU computes in f64 (non-finite, all zero): bit for bit. Others: f32 arithmetic, then one
          // rounding, so within one unit in the last place of the half.
          for (let r = 0; r < rowsValues.length; r++) {
            const a = got.subarray(r * dim, (r + 1) * dim);
            const e = expected.subarray(r * dim, (r + 1) * dim);
            if (r >= 1 && r <= 3) expectSameBits(a, e, dtype, `rmsNorm row ${r}`);
            else {
              const value = dtype === "float16" ? float16Value : bfloat16Value;
              const av = Array.from(a, value);
              const ev = Array.from(ref.subarray(r * dim, (r + 1) * dim));
              expect(maxRelativeError(av, ev), `rmsNorm row ${r}`).toBeLessThanOrEqual(
                dtypeTolerance(dtype, F32_TOL),
              );
            }
          }
        }
      });
    }
  });

  describe("attention with mixed dtypes and half KV caches", () => {
    const backends: Record<string, WebgpuBackend> = {};
    const kinds = {
      auto: {},
      lanes: { flashKernel: "lanes", attentionPath: "flash" },
      tiled: { flashKernel: "tiled", attentionPath: "flash" },
      looped: { flashKernel: "looped", attentionPath: "flash" },
      split: { attentionPath: "split", splitKeys: 64 },
      chunked: { maxBindingElements: 2048 },
    } as const;
    beforeAll(async () => {
      for (const [name, options] of Object.entries(kinds))
        backends[name] = await createWebgpuBackend(options);
    });
    afterAll(() => {
      for (const b of Object.values(backends)) b.dispose();
    });

    const combos: [Dtype, Dtype, Dtype, Dtype][] = [
      ["float32", "bfloat16", "bfloat16", "float32"],
      ["float32", "float16", "float16", "float16"],
      ["float16", "bfloat16", "float32", "bfloat16"],
      ["bfloat16", "float16", "bfloat16", "float32"],
      ["float16", "float16", "float16", "float16"],
      ["bfloat16", "bfloat16", "bfloat16", "bfloat16"],
    ];

    for (const kind of Object.keys(kinds)) {
      for (const [qd, kd, vd, od] of combos) {
        it(`${kind}: q ${qd}, k ${kd}, v ${vd} → ${od} (GQA 4/2, causal, odd head sizes)`, async () => {
          const [batch, qLen, kvLen, qHeads, kvHeads, d, dv] = [2, 5, 37, 4, 2, 19, 13];
          const q = stored(seeded(batch * qLen * qHeads * d, 1), [batch, qLen, qHeads, d], qd, "bshd");
          const k = stored(seeded(batch * kvLen * kvHeads * d, 2), [batch, kvHeads, kvLen, d], kd, "bhsd");
          const v = stored(seeded(batch * kvLen * kvHeads * dv, 3), [batch, kvHeads, kvLen, dv], vd, "bhsd");
          const options = { causal: "bottom-right", outputDtype: od } as const;
          const out = (await (backends[kind] as WebgpuBackend).attention(q, k, v, options as never)).output;
          expect(out.dtype ?? "float32").toBe(od);
          const { outputDtype: _, ...refOptions } = options;
          const ref = attentionReference(
            widenTensor(q, "q"),
            widenTensor(k, "k"),
            widenTensor(v, "v"),
            refOptions as never,
          );
          expect(maxRelativeError(valuesOf(out), valuesOf(ref.output))).toBeLessThanOrEqual(
            dtypeTolerance(od, F32_TOL),
          );
        });
      }
    }

    for (const kv of HALVES) {
      for (const kvLen of [256, 1031]) {
        it(`decode: f32 q, ${kv} KV cache of ${kvLen} keys (split-K), GQA 8/2 × 64, lse in f32`, async () => {
          const [qHeads, kvHeads, d] = [8, 2, 64];
          const capacity = kvLen + 9; // a cache with unused room: kvLength says how much is filled
          const q = stored(seeded(qHeads * d, 5), [1, 1, qHeads, d], "float32", "bshd");
          const k = stored(seeded(kvHeads * capacity * d, 6), [1, kvHeads, capacity, d], kv, "bhsd");
          const v = stored(seeded(kvHeads * capacity * d, 7), [1, kvHeads, capacity, d], kv, "bhsd");
          const options = { kvLength: kvLen, returnLse: true } as const;
          const ref = attentionReference(
            widenTensor(q, "q"),
            widenTensor(k, "k"),
            widenTensor(v, "v"),
            options,
          );
          for (const name of ["auto", "split"]) {
            const result = await (backends[name] as WebgpuBackend).attention(q, k, v, options);
            expect(result.output.data).toBeInstanceOf(Float32Array);
            expect(maxRelativeError(result.output.data, valuesOf(ref.output))).toBeLessThanOrEqual(F32_TOL);
            expect(
              maxRelativeError(result.lse as Float32Array, ref.lse as ArrayLike<number>),
            ).toBeLessThanOrEqual(F32_TOL);
          }
          // Answered in the cache's dtype on request.
          const half16 = await (backends["auto"] as WebgpuBackend).attention(q, k, v, {
            kvLength: kvLen,
            outputDtype: kv,
          });
          expect(half16.output.dtype).toBe(kv);
          expect(maxRelativeError(valuesOf(half16.output), valuesOf(ref.output))).toBeLessThanOrEqual(
            dtypeTolerance(kv, F32_TOL),
          );
        });
      }
    }

    it("fused RoPE with bfloat16 q and k: rotated on the GPU in bfloat16, attention in f32", async () => {
      const rope = {
        headDim: 16,
        rotaryDim: 16,
        base: 10000,
        pairing: "half",
        scaling: { type: "none" },
      } as const;
      const q = stored(seeded(3 * 2 * 16, 11), [1, 3, 2, 16], "bfloat16", "bshd");
      const k = stored(seeded(300 * 2 * 16, 12), [1, 300, 2, 16], "bfloat16", "bshd");
      const v = stored(seeded(300 * 2 * 16, 13), [1, 300, 2, 16], "bfloat16", "bshd");
      const ops = { rope: { rope, qPositions: 297 } } as const;
      const out = (await (backends["auto"] as WebgpuBackend).attention(q, k, v, ops as never)).output;
      // The reference rotates in f64 and stores the rotated q and k in bfloat16, as a bf16 model does.
      const qr = await (backends["auto"] as WebgpuBackend).applyRope(q, rope, { positions: 297 });
      const kr = await (backends["auto"] as WebgpuBackend).applyRope(k, rope);
      const ref = attentionReference(widenTensor(qr, "q"), widenTensor(kr, "k"), widenTensor(v, "v"), {});
      expect(out.dtype).toBe("bfloat16");
      expect(maxRelativeError(valuesOf(out), valuesOf(ref.output))).toBeLessThanOrEqual(
        dtypeTolerance("bfloat16", F32_TOL),
      );
    });
  });
});
