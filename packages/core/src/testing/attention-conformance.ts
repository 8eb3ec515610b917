import { describe, expect, it } from "vitest";
import type { AttentionOptions } from "../attention/plan.js";
import type { Backend } from "../backend/contract.js";
import { type AttentionCase, attentionCaseOptions } from "../cases/attention-cases.js";
import type { GoldenVector } from "../cases/golden.js";
import type { OpCase } from "../cases/op-cases.js";
import { seededValues } from "../cases/seeded.js";
import { maxRelativeError } from "../compare.js";
import { MultiHeadAttention } from "../modules/multi-head-attention.js";
import { ropeSpec } from "../rope/spec.js";
import { headsDims, headsShape, toLayout } from "../tensor.js";
import type { FloatArray, HeadsTensor, Layout, RopeSpec } from "../types.js";

type ArrayMaker = (values: ArrayLike<number>) => FloatArray;

/** What the attention part of the suite needs from the main suite. */
export interface AttentionSuiteContext {
  backend: () => Backend;
  makeArray: () => ArrayMaker;
  tolerance: number;
  vectorOf: (c: OpCase) => GoldenVector;
  expectRejectCode: (run: () => Promise<unknown>, code: string) => Promise<void>;
}

const other = (layout: Layout): Layout => (layout === "bshd" ? "bhsd" : "bshd");

/** |a − e| ≤ tolerance·max(1, |e|) on finite entries; −∞ (null in JSON) must match exactly. */
function expectLse(
  actual: ArrayLike<number> | undefined,
  expected: readonly (number | null)[],
  tolerance: number,
): void {
  expect(actual, "returnLse was set but no lse came back").toBeDefined();
  const a = actual as ArrayLike<number>;
  expect(a.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    if (e === null || e === undefined) expect(a[i]).toBe(Number.NEGATIVE_INFINITY);
    else
      expect(Math.abs((a[i] as number) - e), `lse[${i}]`).toBeLessThanOrEqual(
        tolerance * Math.max(1, Math.abs(e)),
      );
  }
}

/** A four-dimensional head tensor shape. */
type Dims4 = [number, number, number, number];

function random(makeArray: ArrayMaker, seed: string, shape: Dims4, layout: Layout): HeadsTensor {
  return {
    data: makeArray(
      seededValues(
        seed,
        shape.reduce((a, b) => a * b, 1),
      ),
    ),
    shape,
    layout,
  };
}

/** Rows (b, h, i) of a head tensor reordered: out row i = x row perm[i]. */
function permuteSeq(x: HeadsTensor, perm: readonly number[]): HeadsTensor {
  const d = headsDims(x);
  const out = x.data.slice();
  for (let b = 0; b < d.batch; b++) {
    for (let h = 0; h < d.heads; h++) {
      for (let i = 0; i < d.seq; i++) {
        const from = b * d.strideBatch + (perm[i] as number) * d.strideSeq + h * d.strideHead;
        out.set(
          x.data.subarray(from, from + d.headDim),
          b * d.strideBatch + i * d.strideSeq + h * d.strideHead,
        );
      }
    }
  }
  return { ...x, data: out };
}

/** Declares the attention and linear part of the conformance suite. */
export function describeAttentionConformance(ctx: AttentionSuiteContext, cases: readonly OpCase[]): void {
  const { tolerance } = ctx;

  describe("attention golden vectors", () => {
    for (const c of cases) {
      if (c.op === "attention") {
        const inputs = (v: GoldenVector) => {
          const make = ctx.makeArray();
          const kvLayout = c.kvLayout ?? c.layout;
          const kvSeq = c.kvCapacity ?? c.kvLen;
          return {
            q: {
              data: make(v.q as number[]),
              shape: headsShape(c.layout, c.batch, c.qLen, c.qHeads, c.headDim),
              layout: c.layout,
            },
            k: {
              data: make(v.k as number[]),
              shape: headsShape(kvLayout, c.batch, kvSeq, c.kvHeads, c.headDim),
              layout: kvLayout,
            },
            v: {
              data: make(v.v as number[]),
              shape: headsShape(kvLayout, c.batch, kvSeq, c.kvHeads, c.vHeadDim ?? c.headDim),
              layout: kvLayout,
            },
          };
        };

        it(`${c.id}`, async () => {
          const v = ctx.vectorOf(c);
          const { q, k, v: val } = inputs(v);
          const options = attentionCaseOptions(c as AttentionCase);
          const before = [q.data.slice(), k.data.slice(), val.data.slice(), options.mask?.data.slice()];
          const result = await ctx.backend().attention(q, k, val, options);
          expect(result.output.shape).toEqual(v.shape);
          expect(result.output.layout).toBe(c.layout);
          expect(maxRelativeError(result.output.data, v.expected)).toBeLessThanOrEqual(tolerance);
          if (v.lse) expectLse(result.lse, v.lse, tolerance);
          expect(
            [q.data, k.data, val.data, options.mask?.data],
            "attention must not touch its inputs",
          ).toEqual(before);
        });

        it(`${c.id} with every tensor in the other layout`, async () => {
          const v = ctx.vectorOf(c);
          const { q, k, v: val } = inputs(v);
          const result = await ctx
            .backend()
            .attention(
              toLayout(q, other(q.layout)),
              toLayout(k, other(k.layout)),
              toLayout(val, other(val.layout)),
              attentionCaseOptions(c),
            );
          expect(result.output.layout).toBe(other(c.layout));
          expect(maxRelativeError(toLayout(result.output, c.layout).data, v.expected)).toBeLessThanOrEqual(
            tolerance,
          );
        });
      }
    }
  });

  /** The backend, its array maker and seeded q, k, v (k and v in bhsd) of one property test. */
  const qkvCase = (name: string, qShape: Dims4, kvShape: Dims4, qLayout: Layout = "bhsd") => {
    const make = ctx.makeArray();
    return {
      make,
      backend: ctx.backend(),
      q: random(make, `${name}/q`, qShape, qLayout),
      k: random(make, `${name}/k`, kvShape, "bhsd"),
      v: random(make, `${name}/v`, kvShape, "bhsd"),
    };
  };

  describe("attention properties", () => {
    const rope: RopeSpec = ropeSpec({ headDim: 8 });
    const n = 6;
    const perm = [3, 0, 5, 1, 4, 2];

    it("without a position encoding attention is permutation-equivariant; with RoPE it is not", async () => {
      const { backend, q, k, v } = qkvCase("perm", [1, 2, n, 8], [1, 2, n, 8]);
      // Permuting keys and values together changes nothing; permuting queries permutes the output rows.
      const base = (await backend.attention(q, k, v)).output;
      const kvPermuted = (await backend.attention(q, permuteSeq(k, perm), permuteSeq(v, perm))).output;
      expect(maxRelativeError(kvPermuted.data, base.data)).toBeLessThanOrEqual(tolerance);
      const allPermuted = (
        await backend.attention(permuteSeq(q, perm), permuteSeq(k, perm), permuteSeq(v, perm))
      ).output;
      expect(maxRelativeError(allPermuted.data, permuteSeq(base, perm).data)).toBeLessThanOrEqual(tolerance);
      // With RoPE at fixed positions 0…n−1, reordering the tokens changes what each token attends to.
      const withRope = { rope: { rope } };
      const ropeBase = (await backend.attention(q, k, v, withRope)).output;
      const ropePermuted = (
        await backend.attention(permuteSeq(q, perm), permuteSeq(k, perm), permuteSeq(v, perm), withRope)
      ).output;
      expect(maxRelativeError(ropePermuted.data, permuteSeq(ropeBase, perm).data)).toBeGreaterThan(1e-3);
    });

    it("fused RoPE equals applying RoPE to q and k first", async () => {
      const { backend, q, k, v } = qkvCase("fused", [2, 3, 4, 8], [2, 2, 11, 8], "bshd");
      const options: AttentionOptions = { causal: true, rope: { rope, qPositions: 1000, kPositions: 992 } };
      const fused = (await backend.attention(q, k, v, options)).output;
      const qr = await backend.applyRope(q, rope, { positions: 1000 });
      const kr = await backend.applyRope(k, rope, { positions: 992 });
      const unfused = (await backend.attention(qr, kr, v, { causal: true })).output;
      expect(maxRelativeError(fused.data, unfused.data)).toBeLessThanOrEqual(tolerance);
    });

    it("GQA equals MHA with each kv head repeated", async () => {
      const { make, backend, q, k, v } = qkvCase("gqa", [1, 6, 5, 8], [1, 2, 7, 8]);
      const repeat = (t: HeadsTensor) => {
        const out = make(new Float64Array(6 * 7 * 8));
        for (let h = 0; h < 6; h++)
          out.set(t.data.subarray(Math.floor(h / 3) * 56, Math.floor(h / 3) * 56 + 56), h * 56);
        return {
          data: out,
          shape: [1, 6, 7, 8] as Dims4,
          layout: "bhsd" as const,
        };
      };
      const gqa = (await backend.attention(q, k, v, { causal: true })).output;
      const mha = (await backend.attention(q, repeat(k), repeat(v), { causal: true })).output;
      expect(maxRelativeError(gqa.data, mha.data)).toBeLessThanOrEqual(tolerance);
    });

    it("decode rows equal the last rows of the causal prefill", async () => {
      const { make, backend, q, k, v } = qkvCase("decode", [1, 2, 9, 8], [1, 2, 9, 8]);
      const full = (await backend.attention(q, k, v, { causal: true, window: 4 })).output;
      const last2: HeadsTensor = {
        data: make([...q.data.subarray(7 * 8, 9 * 8), ...q.data.subarray(16 * 8, 18 * 8)]),
        shape: [1, 2, 2, 8],
        layout: "bhsd",
      };
      const decoded = (await backend.attention(last2, k, v, { causal: true, window: 4 })).output;
      const expected = [...full.data.subarray(7 * 8, 9 * 8), ...full.data.subarray(16 * 8, 18 * 8)];
      expect(maxRelativeError(decoded.data, expected)).toBeLessThanOrEqual(tolerance);
    });

    it("kvLength ignores the spare capacity of k and v (even NaN there)", async () => {
      const { make, backend, q, k, v } = qkvCase("cap", [1, 2, 2, 8], [1, 2, 5, 8]);
      const withSpare = (t: HeadsTensor) => {
        const out = make(new Float64Array(2 * 8 * 8).fill(Number.NaN));
        for (let h = 0; h < 2; h++) out.set(t.data.subarray(h * 40, h * 40 + 40), h * 64);
        return {
          data: out,
          shape: [1, 2, 8, 8] as Dims4,
          layout: "bhsd" as const,
        };
      };
      const exact = (await backend.attention(q, k, v, { causal: true })).output;
      const spare = (await backend.attention(q, withSpare(k), withSpare(v), { causal: true, kvLength: 5 }))
        .output;
      expect(maxRelativeError(spare.data, exact.data)).toBeLessThanOrEqual(tolerance);
    });

    it("MultiHeadAttention: decoding through KVCache equals the full prefill; fused qkv equals split weights", async () => {
      const make = ctx.makeArray();
      const backend = ctx.backend();
      const hidden = 16;
      const heads = 4;
      const kvHeads = 2;
      const headDim = 4;
      const w = (name: string, out: number, inF: number) => ({
        data: make(seededValues(`mha/${name}`, out * inF)),
        shape: [out, inF],
      });
      const b = (name: string, out: number) => ({
        data: make(seededValues(`mha/${name}`, out)),
        shape: [out],
      });
      const spec: RopeSpec = {
        headDim,
        rotaryDim: 2,
        base: 10000,
        pairing: "half",
        scaling: { type: "none" },
      };
      const layer = new MultiHeadAttention(backend, {
        hiddenSize: hidden,
        numHeads: heads,
        numKvHeads: kvHeads,
        headDim,
        rope: spec,
        weights: {
          q: w("q", heads * headDim, hidden),
          k: w("k", kvHeads * headDim, hidden),
          v: w("v", kvHeads * headDim, hidden),
          o: w("o", hidden, heads * headDim),
          qBias: b("qb", heads * headDim),
          kBias: b("kb", kvHeads * headDim),
          vBias: b("vb", kvHeads * headDim),
        },
      });
      const total = 8;
      const x = make(seededValues("mha/x", 2 * total * hidden));
      const tokens = (from: number, to: number) => {
        const out = make(new Float64Array(2 * (to - from) * hidden));
        for (let bt = 0; bt < 2; bt++)
          out.set(
            x.subarray((bt * total + from) * hidden, (bt * total + to) * hidden),
            bt * (to - from) * hidden,
          );
        return { data: out, shape: [2, to - from, hidden] as [number, number, number] };
      };
      const full = await layer.forward(tokens(0, total));
      const cache = layer.createCache(2, 2); // tiny capacity: forces the cache to grow
      await layer.forward(tokens(0, 5), { cache });
      for (let t = 5; t < total; t++) {
        const step = await layer.forward(tokens(t, t + 1), { cache });
        const expected = [0, 1].flatMap((bt) =>
          Array.from(full.data.subarray((bt * total + t) * hidden, (bt * total + t + 1) * hidden)),
        );
        expect(maxRelativeError(step.data, expected), `decode step ${t}`).toBeLessThanOrEqual(10 * tolerance);
      }
      expect(cache.length).toBe(total);

      // GPT-NeoX fused qkv: per head h, rows 3hD…3hD+D−1 are q, then k, then v.
      const mha = (qkv: boolean) => {
        const q = w("q", heads * headDim, hidden);
        const k = w("k2", heads * headDim, hidden);
        const v = w("v2", heads * headDim, hidden);
        const o = w("o", hidden, heads * headDim);
        if (!qkv)
          return new MultiHeadAttention(backend, {
            hiddenSize: hidden,
            numHeads: heads,
            headDim,
            rope: spec,
            weights: { q, k, v, o },
          });
        const fused = make(new Float64Array(3 * heads * headDim * hidden));
        for (let h = 0; h < heads; h++) {
          for (const [i, part] of [q, k, v].entries()) {
            fused.set(
              part.data.subarray(h * headDim * hidden, (h + 1) * headDim * hidden),
              (3 * h + i) * headDim * hidden,
            );
          }
        }
        return new MultiHeadAttention(backend, {
          hiddenSize: hidden,
          numHeads: heads,
          headDim,
          rope: spec,
          weights: { qkv: { data: fused, shape: [3 * heads * headDim, hidden] }, o },
        });
      };
      const split = await mha(false).forward(tokens(0, total));
      const fusedOut = await mha(true).forward(tokens(0, total));
      expect(maxRelativeError(fusedOut.data, split.data)).toBeLessThanOrEqual(tolerance);
    });
  });

  describe("attention: bad input raises RopekitError", () => {
    const t = (shape: [number, number, number, number], layout: Layout = "bhsd"): HeadsTensor => ({
      data: ctx.makeArray()(new Float64Array(shape.reduce((a, b) => a * b, 1))),
      shape,
      layout,
    });

    const ok: Dims4 = [1, 2, 4, 8];
    // Each row: what is wrong, the code, and the q/k/v shapes and options of the call.
    const attentionCalls: [string, string, [Dims4, Dims4, Dims4], AttentionOptions?][] = [
      ["kv heads that do not divide q heads", "INVALID_SHAPE", [[1, 3, 4, 8], ok, ok]],
      ["k head size ≠ q head size", "INVALID_SHAPE", [ok, [1, 2, 4, 6], ok]],
      ["v positions ≠ k positions", "INVALID_SHAPE", [ok, ok, [1, 2, 5, 8]]],
      ["batch mismatch", "INVALID_SHAPE", [[2, 2, 4, 8], ok, ok]],
      [
        "mask of the wrong shape",
        "INVALID_SHAPE",
        [ok, ok, ok],
        { mask: { data: new Uint8Array(12), shape: [1, 1, 4, 3] } },
      ],
      ["negative window", "INVALID_OPTION", [ok, ok, ok], { window: -2 }],
      ["NaN scale", "INVALID_OPTION", [ok, ok, ok], { scale: Number.NaN }],
      ["zero soft-cap", "INVALID_OPTION", [ok, ok, ok], { softcap: 0 }],
      ["kvLength past k", "INVALID_OPTION", [ok, ok, ok], { kvLength: 5 }],
      ["ALiBi slopes of the wrong length", "INVALID_OPTION", [ok, ok, ok], { alibiSlopes: [1] }],
      ["an unknown causal mode", "INVALID_OPTION", [ok, ok, ok], { causal: "lower" as unknown as boolean }],
      [
        "fused RoPE with the wrong head size",
        "INVALID_SHAPE",
        [ok, ok, ok],
        {
          rope: {
            rope: { headDim: 16, rotaryDim: 16, base: 10000, pairing: "half", scaling: { type: "none" } },
          },
        },
      ],
    ];
    const matrix = (shape: readonly number[]) => ({
      data: ctx.makeArray()(new Float64Array(shape.reduce((a, b) => a * b, 1))),
      shape,
    });
    const cases: [string, string, () => Promise<unknown>][] = [
      ...attentionCalls.map(([what, code, [q, k, v], options]): [string, string, () => Promise<unknown>] => [
        what,
        code,
        () => ctx.backend().attention(t(q), t(k), t(v), options),
      ]),
      [
        "linear weight of the wrong width",
        "INVALID_SHAPE",
        () => ctx.backend().linear(matrix([2, 3]), matrix([2, 4])),
      ],
      [
        "linear bias of the wrong length",
        "INVALID_SHAPE",
        () => ctx.backend().linear(matrix([2, 3]), matrix([2, 3]), matrix([3])),
      ],
    ];
    for (const [what, code, call] of cases) it(`${what} → ${code}`, () => ctx.expectRejectCode(call, code));
  });
}
