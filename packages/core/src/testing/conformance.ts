import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../backend/contract.js";
import type { GoldenFile, GoldenVector } from "../cases/golden.js";
import { seededValues } from "../cases/seeded.js";
import { OP_CASES, type OpCase } from "../cases/op-cases.js";
import { OP_KINDS } from "../cases/op-kinds.js";
import { describeKindConformance } from "./kind-conformance.js";
import { type ApplyRopeCase, applyRopeCaseOptions } from "../cases/rope-cases.js";
import type { ApplyRopeOptions } from "../rope/apply.js";
import { ropeFrequencies } from "../rope/frequencies.js";
import { ropeSpec } from "../rope/spec.js";
import { headsShape, toLayout } from "../tensor.js";
import type { FloatArray, HeadsTensor, Layout, RopeSpec } from "../types.js";
import { maxRelativeError } from "../compare.js";
import { describeAttentionConformance } from "./attention-conformance.js";
import { describeDtypeConformance } from "./dtype-conformance.js";
import goldenJson from "./golden/golden.json" with { type: "json" };

/** Options of `describeConformance`. */
export interface ConformanceOptions {
  /** Shown in the test names. */
  name: string;
  /** Makes the backend under test; called once, disposed after the suite. */
  create: () => Backend | Promise<Backend>;
  /** Allowed max |error| relative to the largest |expected| on every golden vector, e.g. 1e-5 for f32. */
  tolerance: number;
  /** When set, the backend's `describe().mode` must match (so a fallback cannot pass as the real mode). */
  expectedMode?: string | RegExp;
}

const golden = goldenJson as GoldenFile;
const goldenById = new Map<string, GoldenVector>(golden.vectors.map((v) => [v.id, v]));

/** The golden vectors shipped with core, keyed by case id. */
export function goldenVectors(): ReadonlyMap<string, GoldenVector> {
  return goldenById;
}

type ArrayMaker = (values: ArrayLike<number>) => FloatArray;

const optionsOf = applyRopeCaseOptions;

function tablePositionsOf(c: ApplyRopeCase) {
  if (c.positions === undefined) return { start: 0, length: c.seq };
  if (typeof c.positions === "number") return { start: c.positions, length: c.seq };
  return c.positions;
}

async function expectRejectCode(run: () => Promise<unknown>, code: string): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a RopekitError ${code}, but the call succeeded`).toBeDefined();
  // Check by name, not instanceof: a backend may be bundled with its own copy of core.
  expect((caught as Error).name).toBe("RopekitError");
  expect((caught as { code?: string }).code).toBe(code);
  expect((caught as Error).message.length).toBeGreaterThan(10);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/**
 * Declares the conformance suite for one backend: every golden vector (out of place, in place, from a
 * prebuilt table, in the other layout), the properties that need no stored answer, and every kind of
 * bad input. Call it at the top level of a vitest test file.
 */
export function describeConformance(options: ConformanceOptions): void {
  const { name, tolerance } = options;

  describe(`conformance: ${name}`, () => {
    let backend: Backend;
    let makeArray: ArrayMaker;

    beforeAll(async () => {
      backend = await options.create();
      const d = backend.describe();
      makeArray = d.dtypes.includes("float32") ? (v) => Float32Array.from(v) : (v) => Float64Array.from(v);
      console.info(
        `[ropekit conformance] ${name}: backend ${d.name}, mode ${d.mode}, precision ${d.precision}, threads ${d.threads}`,
      );
    });
    afterAll(() => backend?.dispose());

    it("describes the mode it runs in", () => {
      const d = backend.describe();
      expect(d.name).toBe(backend.name);
      expect(d.mode.length).toBeGreaterThan(0);
      expect(["f32", "f64"]).toContain(d.precision);
      expect(d.threads).toBeGreaterThanOrEqual(1);
      expect(d.layouts).toEqual(expect.arrayContaining(["bshd", "bhsd"]));
      expect(d.pairings).toEqual(expect.arrayContaining(["half", "interleaved"]));
      if (options.expectedMode !== undefined) expect(d.mode).toMatch(options.expectedMode);
    });

    describe("golden vectors", () => {
      it("covers every op case", () => {
        for (const c of [...OP_CASES, ...OP_KINDS.flatMap((k) => k.cases)])
          expect(goldenById.has(c.id), `no golden vector for ${c.id}: run pnpm golden`).toBe(true);
      });

      const vectorOf = (c: OpCase): GoldenVector => {
        const v = goldenById.get(c.id);
        if (!v) throw new Error(`no golden vector for ${c.id}: run pnpm golden`);
        return v;
      };

      for (const c of OP_CASES) {
        if (c.op === "applyRope") {
          const heads = (data: FloatArray, layout: Layout = c.layout): HeadsTensor => ({
            data,
            shape: headsShape(layout, c.batch, c.seq, c.heads, c.spec.headDim),
            layout,
          });

          it(`${c.id}`, async () => {
            const v = vectorOf(c);
            const x = heads(makeArray(v.input as number[]));
            const before = x.data.slice();
            const out = await backend.applyRope(x, c.spec, optionsOf(c));
            expect(maxRelativeError(out.data, v.expected)).toBeLessThanOrEqual(tolerance);
            expect(out.shape).toEqual(x.shape);
            expect(out.layout).toBe(c.layout);
            expect(x.data, "out-of-place applyRope must not touch its input").toEqual(before);
          });

          it(`${c.id} in place`, async () => {
            const v = vectorOf(c);
            const x = heads(makeArray(v.input as number[]));
            const out = await backend.applyRope(x, c.spec, { ...optionsOf(c), inPlace: true });
            expect(out.data).toBe(x.data);
            expect(maxRelativeError(x.data, v.expected)).toBeLessThanOrEqual(tolerance);
          });

          it(`${c.id} from a prebuilt ropeTable`, async () => {
            const v = vectorOf(c);
            const table = await backend.ropeTable(
              c.spec,
              tablePositionsOf(c),
              c.seqLen !== undefined ? { seqLen: c.seqLen } : {},
            );
            const { seqLen: _ignored, ...rest } = optionsOf(c);
            const out = await backend.applyRope(heads(makeArray(v.input as number[])), table, rest);
            expect(maxRelativeError(out.data, v.expected)).toBeLessThanOrEqual(tolerance);
          });

          it(`${c.id} in the other layout`, async () => {
            const v = vectorOf(c);
            const other: Layout = c.layout === "bshd" ? "bhsd" : "bshd";
            const x = toLayout(heads(makeArray(v.input as number[])), other);
            const out = await backend.applyRope(x, c.spec, optionsOf(c));
            expect(out.layout).toBe(other);
            const back = toLayout(out, c.layout);
            expect(maxRelativeError(back.data, v.expected)).toBeLessThanOrEqual(tolerance);
          });
        } else if (c.op === "sinusoidal") {
          it(`${c.id}`, async () => {
            const v = vectorOf(c);
            const out = await backend.sinusoidal(c.positions, c.dim, c.base);
            expect(out.shape).toEqual(v.shape);
            expect(maxRelativeError(out.data, v.expected)).toBeLessThanOrEqual(tolerance);
          });
        } else if (c.op === "addSinusoidal") {
          for (const inPlace of [false, true]) {
            it(`${c.id}${inPlace ? " in place" : ""}`, async () => {
              const v = vectorOf(c);
              const x = { data: makeArray(v.input as number[]), shape: [c.batch, c.seq, c.dim] as const };
              const before = x.data.slice();
              const out = await backend.addSinusoidal(x, {
                ...(c.positions !== undefined ? { positions: c.positions } : {}),
                ...(c.base !== undefined ? { base: c.base } : {}),
                inPlace,
              });
              expect(maxRelativeError(out.data, v.expected)).toBeLessThanOrEqual(tolerance);
              if (inPlace) expect(out.data).toBe(x.data);
              else expect(x.data).toEqual(before);
            });
          }
        } else if (c.op === "addLearned") {
          for (const inPlace of [false, true]) {
            it(`${c.id}${inPlace ? " in place" : ""}`, async () => {
              const v = vectorOf(c);
              const x = { data: makeArray(v.input as number[]), shape: [c.batch, c.seq, c.dim] as const };
              const table = { data: makeArray(v.table as number[]), shape: [c.tableRows, c.dim] };
              const before = x.data.slice();
              const tableBefore = table.data.slice();
              const out = await backend.addLearned(x, table, {
                ...(c.positions !== undefined ? { positions: c.positions } : {}),
                inPlace,
              });
              expect(maxRelativeError(out.data, v.expected)).toBeLessThanOrEqual(tolerance);
              expect(table.data).toEqual(tableBefore);
              if (inPlace) expect(out.data).toBe(x.data);
              else expect(x.data).toEqual(before);
            });
          }
        }
      }
    });

    describeKindConformance({
      backend: () => backend,
      makeArray: () => makeArray,
      tolerance,
      vector: (id) => goldenById.get(id),
    });

    describeAttentionConformance(
      {
        backend: () => backend,
        makeArray: () => makeArray,
        tolerance,
        vectorOf: (c) => {
          const v = goldenById.get(c.id);
          if (!v) throw new Error(`no golden vector for ${c.id}: run pnpm golden`);
          return v;
        },
        expectRejectCode,
      },
      OP_CASES,
    );

    // Every op again in float16, bfloat16 and float64 — or, where the backend does not declare one, its
    // INVALID_DTYPE refusal.
    describeDtypeConformance(
      { backend: () => backend, tolerance, vector: (id) => goldenById.get(id) },
      OP_CASES,
    );

    describe("properties", () => {
      const propertySpecs: Record<string, RopeSpec> = Object.fromEntries(
        OP_CASES.filter((c): c is ApplyRopeCase => c.op === "applyRope").map((c) => [c.id, c.spec]),
      );
      const single = (spec: RopeSpec, values: ArrayLike<number>): HeadsTensor => ({
        data: makeArray(values),
        shape: [1, 1, 1, spec.headDim],
        layout: "bshd",
      });

      it("score depends only on the relative position m − n", async () => {
        for (const [id, spec] of Object.entries(propertySpecs)) {
          if (spec.scaling.type === "dynamic" || spec.scaling.type === "longrope") continue; // seqLen-dependent
          const q = seededValues(`${id}/q`, spec.headDim);
          const k = seededValues(`${id}/k`, spec.headDim);
          const { attentionScale } = ropeFrequencies(spec);
          const bound = Math.sqrt(dot(q, q) * dot(k, k)) * attentionScale ** 2;
          const score = async (m: number, n: number) => {
            const qm = await backend.applyRope(single(spec, q), spec, { positions: m });
            const kn = await backend.applyRope(single(spec, k), spec, { positions: n });
            return dot(qm.data, kn.data);
          };
          const s0 = await score(7, 3);
          for (const shift of [1, 250, 4093]) {
            const s = await score(7 + shift, 3 + shift);
            // f32 tables at position p carry an angle error of ~p·2⁻²⁴ relative, so allow 10× the golden tolerance.
            expect(Math.abs(s - s0) / bound, `${id}: shift ${shift}`).toBeLessThanOrEqual(10 * tolerance);
          }
        }
      });

      it("rotation scales the rotary channels' norm by the attention scale and keeps the rest", async () => {
        for (const [id, spec] of Object.entries(propertySpecs)) {
          const x = seededValues(`${id}/norm`, spec.headDim);
          const out = await backend.applyRope(single(spec, x), spec, { positions: 1234 });
          const { attentionScale } = ropeFrequencies(spec, { seqLen: 1235 });
          const r = spec.rotaryDim;
          const normIn = Math.sqrt(dot(x.subarray(0, r), x.subarray(0, r)));
          const rotated = Array.from(out.data.subarray(0, r));
          const normOut = Math.sqrt(dot(rotated, rotated));
          expect(
            Math.abs(normOut - attentionScale * normIn) / (attentionScale * normIn),
            id,
          ).toBeLessThanOrEqual(tolerance);
          expect(Array.from(out.data.subarray(r)), `${id}: pass-through channels`).toEqual(
            Array.from(x.subarray(r)),
          );
        }
      });

      it("inverse undoes the rotation", async () => {
        for (const [id, spec] of Object.entries(propertySpecs)) {
          const shape = headsShape("bhsd", 2, 3, 2, spec.headDim);
          const x: HeadsTensor = {
            data: makeArray(seededValues(`${id}/inv`, 12 * spec.headDim)),
            shape,
            layout: "bhsd",
          };
          const rotated = await backend.applyRope(x, spec, { positions: 99990 });
          const back = await backend.applyRope(rotated, spec, { positions: 99990, inverse: true });
          expect(maxRelativeError(back.data, x.data), id).toBeLessThanOrEqual(tolerance);
        }
      });

      it("applyRopeQK equals applyRope on q and on k (GQA head counts)", async () => {
        const spec = propertySpecs["rope/hf-llama31"] as RopeSpec;
        const q: HeadsTensor = {
          data: makeArray(seededValues("qk/q", 2 * 3 * 4 * spec.headDim)),
          shape: [2, 3, 4, spec.headDim],
          layout: "bshd",
        };
        const k: HeadsTensor = {
          data: makeArray(seededValues("qk/k", 2 * 3 * 1 * spec.headDim)),
          shape: [2, 1, 3, spec.headDim],
          layout: "bhsd",
        };
        const both = await backend.applyRopeQK(q, k, spec, { positions: 500 });
        const q1 = await backend.applyRope(q, spec, { positions: 500 });
        const k1 = await backend.applyRope(k, spec, { positions: 500 });
        expect(maxRelativeError(both.q.data, q1.data)).toBe(0);
        expect(maxRelativeError(both.k.data, k1.data)).toBe(0);
        expect(both.k.layout).toBe("bhsd");
      });
    });

    describe("bad input raises RopekitError and leaves inputs unchanged", () => {
      const spec: RopeSpec = ropeSpec({ headDim: 8 });
      const fresh = (): HeadsTensor => ({
        data: makeArray(seededValues("errors/x", 2 * 3 * 2 * 8)),
        shape: [2, 3, 2, 8],
        layout: "bshd",
      });
      type Call = (x: HeadsTensor) => Promise<unknown>;
      // applyRope on x, the spec and options with some fields changed (the casts let wrong types through).
      const rope =
        (change: { x?: object; spec?: object; options?: object }): Call =>
        (x) =>
          backend.applyRope(
            { ...x, ...change.x } as HeadsTensor,
            { ...spec, ...change.spec } as RopeSpec,
            change.options as ApplyRopeOptions,
          );
      const learned =
        (tableShape: [number, number], options: { inPlace?: boolean } = {}): Call =>
        (x) =>
          backend.addLearned(
            { data: x.data, shape: [2, 3, 16] },
            { data: makeArray(new Float64Array(tableShape[0] * tableShape[1])), shape: tableShape },
            options,
          );
      const cases: [string, string, Call][] = [
        ["data shorter than the shape", "INVALID_SHAPE", rope({ x: { shape: [2, 3, 2, 9] } })],
        ["non-integer dimension", "INVALID_SHAPE", rope({ x: { shape: [2, 3, 2.5, 8] } })],
        ["rank-3 shape", "INVALID_SHAPE", rope({ x: { shape: [6, 2, 8] } })],
        ["unknown layout", "INVALID_LAYOUT", rope({ x: { layout: "bsdh" } })],
        ["head size ≠ spec.headDim", "INVALID_SHAPE", rope({ spec: { headDim: 16, rotaryDim: 16 } })],
        ["odd rotaryDim", "INVALID_ROTARY_DIM", rope({ spec: { rotaryDim: 5 } })],
        ["rotaryDim > headDim", "INVALID_ROTARY_DIM", rope({ spec: { rotaryDim: 10 } })],
        ["NaN base", "INVALID_OPTION", rope({ spec: { base: Number.NaN } })],
        ["unknown scaling type", "UNKNOWN_ROPE_TYPE", rope({ spec: { scaling: { type: "ntk-by-parts" } } })],
        ["linear factor < 1", "INVALID_OPTION", rope({ spec: { scaling: { type: "linear", factor: 0.5 } } })],
        ["negative offset", "INVALID_POSITIONS", rope({ options: { positions: -1 } })],
        ["non-integer offset", "INVALID_POSITIONS", rope({ options: { positions: 1.5 } })],
        ["NaN offset", "INVALID_POSITIONS", rope({ options: { positions: Number.NaN } })],
        ["offset past int32", "INVALID_POSITIONS", rope({ options: { positions: 2 ** 31 } })],
        ["ids of the wrong length", "INVALID_POSITIONS", rope({ options: { positions: [0, 1] } })],
        ["non-integer id", "INVALID_POSITIONS", rope({ options: { positions: [0, 1, 2.5] } })],
        [
          "position outside the table",
          "POSITION_OUT_OF_RANGE",
          async (x) => backend.applyRope(x, await backend.ropeTable(spec, { start: 0, length: 2 }), {}),
        ],
        ["in-place with a non-boolean", "INVALID_OPTION", rope({ options: { inPlace: "yes" } })],
        ["not a float array", "INVALID_DTYPE", rope({ x: { data: new Int32Array(96) } })],
        [
          "q/k with different seq",
          "INVALID_SHAPE",
          (x) =>
            backend.applyRopeQK(x, { ...x, data: x.data.slice(0, 64), shape: [2, 2, 2, 8] }, spec, {
              inPlace: true,
            }),
        ],
        ["sinusoidal with dim 0", "INVALID_OPTION", () => backend.sinusoidal({ start: 0, length: 3 }, 0)],
        ["sinusoidal with a negative id", "INVALID_POSITIONS", () => backend.sinusoidal([0, -3], 4)],
        [
          "addSinusoidal with a NaN base",
          "INVALID_OPTION",
          (x) => backend.addSinusoidal({ data: x.data, shape: [2, 3, 16] }, { base: Number.NaN }),
        ],
        ["learned table too short", "POSITION_OUT_OF_RANGE", learned([2, 16], { inPlace: true })],
        ["learned table of other width", "INVALID_SHAPE", learned([8, 8])],
      ];
      for (const [what, code, call] of cases) {
        it(`${what} → ${code}`, async () => {
          const x = fresh();
          const before = x.data.slice();
          await expectRejectCode(() => call(x), code);
          expect(x.data, "a rejected call must not touch its input").toEqual(before);
        });
      }

      it("detached buffer → DETACHED_BUFFER", async () => {
        const x = fresh();
        structuredClone(x.data.buffer, { transfer: [x.data.buffer] });
        await expectRejectCode(() => backend.applyRope(x, spec), "DETACHED_BUFFER");
      });
    });
  });
}
