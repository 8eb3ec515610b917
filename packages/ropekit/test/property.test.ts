// Random shapes, layouts, positions and configs thrown at the public API: every call either matches the
// f64 reference (≤ 1e-5 relative) or raises a RopekitError; none crashes, hangs, or touches its inputs.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type HeadsTensor,
  type RopeScaling,
  type RopeSpec,
  RopekitError,
  applyRope,
  applyRopeReference,
  getBackend,
  maxRelativeError,
  ropeSpecFromHF,
} from "../src/index.js";

const num = fc.oneof(
  { weight: 30, arbitrary: fc.double({ min: 1, max: 64, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 0) },
);
const factorList = (n: number) =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.array(fc.double({ min: 0.5, max: 40, noNaN: true }), { minLength: n, maxLength: n }),
    },
    { weight: 1, arbitrary: fc.array(fc.double({ min: -1, max: 40 }), { maxLength: n + 2 }) },
  );

const scaling = (rotaryDim: number): fc.Arbitrary<RopeScaling> =>
  fc.oneof(
    fc.constant({ type: "none" as const }),
    num.map((factor) => ({ type: "linear" as const, factor })),
    fc.record({
      type: fc.constant("dynamic" as const),
      factor: num,
      maxPositionEmbeddings: fc.integer({ min: -2, max: 4096 }),
    }),
    fc.record(
      {
        type: fc.constant("yarn" as const),
        factor: num,
        originalMaxPositionEmbeddings: fc.integer({ min: 1, max: 65536 }),
        betaFast: num,
        betaSlow: num,
        mscale: num,
        mscaleAllDim: num,
        attentionFactor: num,
        truncate: fc.boolean(),
      },
      {
        requiredKeys: ["type", "factor", "originalMaxPositionEmbeddings", "betaFast", "betaSlow", "truncate"],
      },
    ),
    fc.record({
      type: fc.constant("llama3" as const),
      factor: num,
      lowFreqFactor: num,
      highFreqFactor: num,
      originalMaxPositionEmbeddings: fc.integer({ min: 1, max: 16384 }),
    }),
    fc.record({
      type: fc.constant("longrope" as const),
      shortFactor: factorList(Math.max(0, Math.floor(rotaryDim / 2))),
      longFactor: factorList(Math.max(0, Math.floor(rotaryDim / 2))),
      originalMaxPositionEmbeddings: fc.integer({ min: 1, max: 8192 }),
      factor: num,
    }),
  ) as fc.Arbitrary<RopeScaling>;

const callArb = fc
  .record({
    layout: fc.constantFrom("bshd" as const, "bhsd" as const),
    batch: fc.integer({ min: 1, max: 3 }),
    seq: fc.integer({ min: 1, max: 6 }),
    heads: fc.integer({ min: 1, max: 3 }),
    headDim: fc.oneof(
      { weight: 10, arbitrary: fc.integer({ min: 2, max: 14 }) },
      { weight: 1, arbitrary: fc.constant(1) },
    ),
    // Mostly a valid (even, ≤ headDim) rotary dim; sometimes anything.
    rotaryExact: fc.oneof(
      { weight: 8, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    rotaryDelta: fc.integer({ min: -14, max: 2 }),
    base: fc.oneof(
      { weight: 5, arbitrary: fc.double({ min: 1.5, max: 2e6, noNaN: true }) },
      { weight: 1, arbitrary: fc.constantFrom(Number.NaN, 1, 0.5) },
    ),
    pairing: fc.constantFrom("half" as const, "interleaved" as const),
    positionsKind: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom("none", "offset", "shared", "perRow") },
      { weight: 1, arbitrary: fc.constant("bad") },
    ),
    offset: fc.oneof(
      { weight: 10, arbitrary: fc.integer({ min: 0, max: 140000 }) },
      { weight: 1, arbitrary: fc.constantFrom(-3, 2.5, Number.NaN) },
    ),
    inPlace: fc.boolean(),
    inverse: fc.boolean(),
    wrongLength: fc.integer({ min: 0, max: 14 }).map((x) => x === 0),
  })
  .chain((c) => {
    const even = Math.max(2, c.headDim - (c.headDim % 2) + Math.min(0, 2 * Math.floor(c.rotaryDelta / 4)));
    const rotaryDim = c.rotaryExact
      ? even
      : c.headDim + c.rotaryDelta <= 0
        ? c.headDim
        : c.headDim + c.rotaryDelta;
    return fc.record({
      c: fc.constant(c),
      rotaryDim: fc.constant(rotaryDim),
      scaling: scaling(rotaryDim),
      ids: fc.array(fc.integer({ min: 0, max: 140000 }), {
        minLength: c.batch * c.seq,
        maxLength: c.batch * c.seq,
      }),
      data: fc.array(fc.float({ min: -4, max: 4, noNaN: true }), {
        minLength: c.batch * c.seq * c.heads * c.headDim,
        maxLength: c.batch * c.seq * c.heads * c.headDim,
      }),
    });
  });

describe("property: public applyRope matches the reference or raises RopekitError", () => {
  it("random calls", async () => {
    await getBackend({ env: {} });
    let matched = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(callArb, async ({ c, rotaryDim, scaling, ids, data }) => {
        const spec: RopeSpec = { headDim: c.headDim, rotaryDim, base: c.base, pairing: c.pairing, scaling };
        const shape = (
          c.layout === "bshd" ? [c.batch, c.seq, c.heads, c.headDim] : [c.batch, c.heads, c.seq, c.headDim]
        ) as [number, number, number, number];
        const x: HeadsTensor<Float32Array> = {
          data: Float32Array.from(c.wrongLength && data.length > 1 ? data.slice(1) : data),
          shape,
          layout: c.layout,
        };
        const original = x.data.slice();
        const positions =
          c.positionsKind === "none"
            ? undefined
            : c.positionsKind === "offset"
              ? c.offset
              : c.positionsKind === "shared"
                ? ids.slice(0, c.seq)
                : c.positionsKind === "perRow"
                  ? ids
                  : ids.slice(0, Math.max(0, c.seq - 1)).concat([0.5]);
        const options = {
          ...(positions !== undefined ? { positions } : {}),
          inPlace: c.inPlace,
          inverse: c.inverse,
        };

        let expected: Float64Array | undefined;
        let referenceError: unknown;
        try {
          expected = applyRopeReference({ ...x, data: Float64Array.from(original) }, spec, {
            ...options,
            inPlace: false,
          }).data as Float64Array;
        } catch (error) {
          referenceError = error;
        }
        try {
          const out = await applyRope(x, spec, options);
          expect(referenceError, "the backend accepted what the reference rejects").toBeUndefined();
          expect(maxRelativeError(out.data, expected as Float64Array)).toBeLessThanOrEqual(1e-5);
          if (!c.inPlace) expect(x.data).toEqual(original);
          matched++;
        } catch (error) {
          if (!(error instanceof RopekitError)) throw error;
          expect(referenceError).toBeInstanceOf(RopekitError);
          expect((referenceError as RopekitError).code).toBe(error.code);
          expect(x.data, "a rejected call must leave its input alone").toEqual(original);
          rejected++;
        }
      }),
      // A fixed seed keeps the mix of valid and invalid calls (checked below) the same on every run.
      { numRuns: 400, seed: 20261127 },
    );
    // Both outcomes must actually occur, or the generators are broken.
    console.info(`[property] ${matched} calls matched the reference, ${rejected} raised RopekitError`);
    expect(matched).toBeGreaterThan(20);
    expect(rejected).toBeGreaterThan(20);
  });

  it("random HF configs: a spec or a RopekitError, nothing else", () => {
    const field = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.integer({ min: -2, max: 200000 }),
      fc.double({ min: -1, max: 1e6 }),
      fc.string({ maxLength: 4 }),
      fc.array(fc.double({ min: 0, max: 8 }), { maxLength: 8 }),
    );
    const config = fc.record(
      {
        hidden_size: fc.oneof(fc.integer({ min: 1, max: 512 }), field),
        num_attention_heads: fc.oneof(fc.integer({ min: 1, max: 16 }), field),
        head_dim: field,
        partial_rotary_factor: fc.oneof(fc.constantFrom(0.25, 0.4, 0.5, 1), field),
        rope_theta: fc.oneof(fc.constantFrom(10000, 500000), field),
        max_position_embeddings: fc.oneof(fc.constantFrom(2048, 131072), field),
        original_max_position_embeddings: field,
        rope_scaling: fc.oneof(
          fc.constant(null),
          fc.record(
            {
              rope_type: fc.constantFrom(
                "default",
                "linear",
                "dynamic",
                "yarn",
                "llama3",
                "longrope",
                "su",
                3,
              ),
              factor: field,
              low_freq_factor: field,
              high_freq_factor: field,
              original_max_position_embeddings: field,
              beta_fast: field,
              beta_slow: field,
              mscale: field,
              mscale_all_dim: field,
              attention_factor: field,
              short_factor: field,
              long_factor: field,
              truncate: fc.oneof(fc.boolean(), field),
            },
            { requiredKeys: ["rope_type"] },
          ),
        ),
      },
      { requiredKeys: [] },
    );
    let specs = 0;
    fc.assert(
      fc.property(config, (cfg) => {
        const before = JSON.stringify(cfg);
        try {
          const spec = ropeSpecFromHF(cfg);
          expect(spec.rotaryDim % 2).toBe(0);
          specs++;
        } catch (error) {
          expect(error).toBeInstanceOf(RopekitError);
        }
        expect(JSON.stringify(cfg)).toBe(before);
      }),
      { numRuns: 2000, seed: 20261127 },
    );
    expect(specs).toBeGreaterThan(10);
  });
});
