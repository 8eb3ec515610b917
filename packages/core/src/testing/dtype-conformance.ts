import { describe, expect, it } from "vitest";
import { addLearnedReference } from "../absolute/learned.js";
import { addSinusoidalReference } from "../absolute/sinusoidal.js";
import { attentionReference } from "../attention/attention.js";
import { type AttentionOptions, fusedRopePositions, planAttention } from "../attention/plan.js";
import type { Backend } from "../backend/contract.js";
import { createReferenceBackend } from "../backend/reference.js";
import { type AttentionCase, attentionCaseOptions } from "../cases/attention-cases.js";
import type { GoldenVector } from "../cases/golden.js";
import type { OpCase } from "../cases/op-cases.js";
import { OP_KINDS } from "../cases/op-kinds.js";
import { type ApplyRopeCase, applyRopeCaseOptions } from "../cases/rope-cases.js";
import { maxRelativeError } from "../compare.js";
import { isHalfDtype, narrowData, tensorDtype, widenData, widenTensor } from "../dtype/dtype.js";
import { applyRopeReference } from "../rope/apply.js";
import { headsShape } from "../tensor.js";
import type { Dtype, EmbeddingTensor, HeadsTensor, Layout, Tensor } from "../types.js";

/** What the dtype part of the suite needs from the main suite. */
export interface DtypeSuiteContext {
  /** The backend under test (made once by the main suite). */
  backend: () => Backend;
  /** The backend's tolerance on float32 data (max error relative to the largest |expected|). */
  tolerance: number;
  /** The golden vector of a case id (its inputs are what gets rounded to each dtype). */
  vector: (id: string) => GoldenVector | undefined;
}

/** The dtypes besides float32 the suite runs (or, when the backend does not declare one, checks it refuses). */
export const EXTRA_DTYPES: readonly Dtype[] = ["float16", "bfloat16", "float64"];

/**
 * Unit roundoff u of each format: a value rounded to nearest is within u·|x| of x (u = 2^-(p), p the
 * significand bits counting the hidden one: float16 11, bfloat16 8, float32 24, float64 53).
 */
export const UNIT_ROUNDOFF: Readonly<Record<Dtype, number>> = {
  float16: 2 ** -11,
  bfloat16: 2 ** -8,
  float32: 2 ** -24,
  float64: 2 ** -53,
};

/**
 * The tolerance of an op whose output is stored in `out`, for a backend held to `f32` on float32 data.
 * The reference computes in f64 on the same rounded inputs (half values are exact in f32 and f64), so
 * the inputs' rounding is no error here; what remains is
 * - the backend's arithmetic on those inputs: |y' − y| ≤ δ, δ = f32 (the main suite holds it to that
 *   for inputs of the same size: the kernels compute in f32 whatever the storage);
 * - rounding y' to the output format: |round(y') − y'| ≤ u·|y'|.
 * Together |round(y') − y| ≤ u·|y| + (1 + u)·δ, and |y| ≤ max|expected| — the scale maxRelativeError
 * divides by — so the bound relative to the largest |expected| is u + (1 + u)·δ.
 * float16 outputs: 2^-11 + δ (≈ 4.9e-4 + δ); bfloat16: 2^-8 + δ (≈ 3.9e-3 + δ).
 */
export function dtypeTolerance(out: Dtype, f32: number): number {
  const u = UNIT_ROUNDOFF[out];
  return u + (1 + u) * f32;
}

let referenceBackend: Backend | undefined;

/**
 * The f64 attention of inputs stored in their dtypes. With fused RoPE, q and k are rotated first and
 * stored in their dtypes — a backend's fused RoPE rotates them with its applyRope, whose output is in the
 * input's dtype, as a model running in that dtype stores rotated keys — then attention runs in f64.
 */
function attentionExpected(
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  options: AttentionOptions,
): Tensor {
  const { rope, ...rest } = options;
  if (!rope)
    return attentionReference(widenTensor(q, "q"), widenTensor(k, "k"), widenTensor(v, "v"), options).output;
  referenceBackend ??= createReferenceBackend();
  const ops = referenceBackend.sync as NonNullable<Backend["sync"]>;
  const positions = fusedRopePositions(planAttention(q, k, v, options));
  const qr = ops.applyRope(q, rope.rope, { positions: positions.q });
  const kr = ops.applyRope(k, rope.rope, { positions: positions.k });
  return attentionReference(widenTensor(qr, "q"), widenTensor(kr, "k"), widenTensor(v, "v"), rest).output;
}

/** Seeded values stored in `dtype`: halves as Uint16Array bits (rounded to nearest even) with the dtype. */
function stored(values: ArrayLike<number>, shape: readonly number[], dtype: Dtype, layout?: Layout): Tensor {
  const t: Tensor = { data: narrowData(values, dtype), shape };
  return {
    ...t,
    ...(layout ? { layout } : {}),
    ...(isHalfDtype(dtype) ? { dtype } : {}),
  };
}

/** A tensor's values as f64 numbers (exact for every dtype). */
function valuesOf(t: Tensor): Float64Array {
  return widenData(t.data, tensorDtype(t, "output"), "float64");
}

/** True when every value is finite (cases whose rounded inputs overflow a half are not comparable). */
function finite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i] as number)) return false;
  return true;
}

/**
 * Every op in every extra dtype (float16, bfloat16, float64): the golden cases' inputs rounded to the
 * dtype, the backend's output compared with the f64 reference on the same rounded inputs, within
 * `dtypeTolerance`; the output must come in the input's dtype (q's for attention, x's for linear), and
 * mixed calls (f32 q with half K/V, f32 x with half weights) come out in f32. A backend that does not
 * declare a dtype must refuse it with INVALID_DTYPE naming what it takes.
 *
 * Cases: every applyRope, addSinusoidal, addLearned, attention, linear golden case and every op kind
 * (rmsNorm) — one call each per dtype (the f32 suite covers layouts, tables and in-place variants; here
 * one in-place call per op checks the bits land in the caller's array). Cases whose rounded inputs or
 * reference are not finite (values past the float16 range) are only checked to answer in the dtype.
 * With fused RoPE the rotated q and k are stored in their dtypes before attention (see
 * `attentionExpected`).
 */
export function describeDtypeConformance(ctx: DtypeSuiteContext, cases: readonly OpCase[]): void {
  for (const dtype of EXTRA_DTYPES) {
    describe(`dtype ${dtype}`, () => {
      const tol = dtypeTolerance(dtype, ctx.tolerance);
      const declared = () => ctx.backend().describe().dtypes.includes(dtype);
      // An f64 backend (the reference) answers f32 inputs in f64, as it always has.
      const outDtypes = (out: Dtype): Dtype[] =>
        out === "float32" && ctx.backend().describe().precision === "f64" ? ["float32", "float64"] : [out];

      /** Compares a backend call's output with the reference, or checks the refusal when not declared. */
      const check = async (
        run: () => Promise<Tensor>,
        reference: () => Tensor,
        outDtype: Dtype,
        inputs: readonly Tensor[],
      ): Promise<void> => {
        if (!declared()) {
          await expect(run()).rejects.toMatchObject({
            code: "INVALID_DTYPE",
            message: expect.stringContaining(`takes ${ctx.backend().describe().dtypes.join(", ")}`),
          });
          return;
        }
        const ref = reference();
        const expected = valuesOf(ref);
        if (!inputs.every((t) => finite(valuesOf(t))) || !finite(expected)) {
          // Past the format's range: not a comparison of arithmetic; the call still answers in the dtype.
          expect(outDtypes(outDtype)).toContain(tensorDtype(await run(), "output"));
          return;
        }
        const before = inputs.map((t) => Array.from(t.data));
        const out = await run();
        expect(outDtypes(outDtype)).toContain(tensorDtype(out, "output"));
        expect(
          inputs.map((t) => Array.from(t.data)),
          "an out-of-place call must not touch its inputs",
        ).toEqual(before);
        expect(maxRelativeError(valuesOf(out), expected)).toBeLessThanOrEqual(
          dtypeTolerance(outDtype, ctx.tolerance),
        );
      };

      for (const c of cases) {
        const v = () => {
          const found = ctx.vector(c.id);
          if (!found) throw new Error(`no golden vector for ${c.id}: run pnpm golden`);
          return found;
        };
        if (c.op === "applyRope") {
          const rc = c as ApplyRopeCase;
          const shape = headsShape(rc.layout, rc.batch, rc.seq, rc.heads, rc.spec.headDim);
          it(`${c.id}`, async () => {
            const x = stored(v().input as number[], shape, dtype, rc.layout) as HeadsTensor;
            const options = applyRopeCaseOptions(rc);
            await check(
              async () => ctx.backend().applyRope(x, rc.spec, options),
              () => applyRopeReference(widenTensor(x, "x"), rc.spec, options),
              dtype,
              [x],
            );
          });
        } else if (c.op === "addSinusoidal") {
          it(`${c.id}`, async () => {
            const x = stored(v().input as number[], [c.batch, c.seq, c.dim], dtype) as EmbeddingTensor;
            const options = {
              ...(c.positions !== undefined ? { positions: c.positions } : {}),
              ...(c.base !== undefined ? { base: c.base } : {}),
            };
            await check(
              async () => ctx.backend().addSinusoidal(x, options),
              () => addSinusoidalReference(widenTensor(x, "x"), options),
              dtype,
              [x],
            );
          });
        } else if (c.op === "addLearned") {
          it(`${c.id} (x and table in ${dtype})`, async () => {
            const x = stored(v().input as number[], [c.batch, c.seq, c.dim], dtype) as EmbeddingTensor;
            const table = stored(v().table as number[], [c.tableRows, c.dim], dtype);
            const options = c.positions !== undefined ? { positions: c.positions } : {};
            await check(
              async () => ctx.backend().addLearned(x, table, options),
              () => addLearnedReference(widenTensor(x, "x"), widenTensor(table, "table"), options),
              dtype,
              [x, table],
            );
          });
        } else if (c.op === "attention") {
          const ac = c as AttentionCase;
          const kvLayout = ac.kvLayout ?? ac.layout;
          const kvSeq = ac.kvCapacity ?? ac.kvLen;
          const qShape = headsShape(ac.layout, ac.batch, ac.qLen, ac.qHeads, ac.headDim);
          const kShape = headsShape(kvLayout, ac.batch, kvSeq, ac.kvHeads, ac.headDim);
          const vShape = headsShape(kvLayout, ac.batch, kvSeq, ac.kvHeads, ac.vHeadDim ?? ac.headDim);
          // All three in the dtype, then f32 q with K/V in the dtype (a half KV cache): output in q's dtype.
          for (const qDtype of [dtype, "float32"] as const) {
            if (qDtype === dtype && dtype === "float32") continue;
            it(`${c.id} (q ${qDtype}, k/v ${dtype})`, async () => {
              const q = stored(v().q as number[], qShape, qDtype, ac.layout) as HeadsTensor;
              const k = stored(v().k as number[], kShape, dtype, kvLayout) as HeadsTensor;
              const val = stored(v().v as number[], vShape, dtype, kvLayout) as HeadsTensor;
              const options = attentionCaseOptions(ac);
              await check(
                async () => (await ctx.backend().attention(q, k, val, options)).output,
                () => attentionExpected(q, k, val, options),
                qDtype,
                [q, k, val],
              );
            });
          }
        }
      }

      for (const kind of OP_KINDS) {
        for (const c of kind.cases) {
          // Every input in the dtype; then, for ops with an activation, f32 activations with the weights in
          // the dtype (half weights, f32 accumulation): the output takes the activation's dtype.
          const weights = Object.keys(kind.inputs(c)).filter((name) => name !== kind.activation);
          const mixed = kind.activation !== undefined && weights.length > 0 && dtype !== "float32";
          const mixes = mixed ? [dtype, "float32" as const] : [dtype];
          for (const activationDtype of mixes) {
            const label = activationDtype === dtype ? "" : ` (${kind.activation} float32, the rest ${dtype})`;
            it(`${c.id}${label}`, async () => {
              const inputs = kind.inputs(c);
              const tensors = Object.fromEntries(
                Object.entries(inputs).map(([name, t]) => [
                  name,
                  stored(t.data, t.shape, name === kind.activation ? activationDtype : dtype),
                ]),
              );
              const wide = Object.fromEntries(
                Object.entries(tensors).map(([n, t]) => [n, widenTensor(t, n)]),
              );
              await check(
                () => kind.run(ctx.backend(), c, tensors),
                () => kind.reference(c, wide),
                activationDtype,
                Object.values(tensors),
              );
            });
          }
        }
      }

      it(`outputDtype: ${dtype} q, k, v answered in float32, and float32 ones in ${dtype}`, async () => {
        const c = cases.find((k): k is AttentionCase => k.op === "attention" && !k.rope) as AttentionCase;
        const v = ctx.vector(c.id) as GoldenVector;
        const shape = (seq: number) => headsShape(c.layout, c.batch, seq, c.qHeads, c.headDim);
        const kvShape = headsShape(c.layout, c.batch, c.kvLen, c.kvHeads, c.headDim);
        const make = (values: ArrayLike<number>, s: readonly number[], d: Dtype) =>
          stored(values, s, d, c.layout) as HeadsTensor;
        for (const [from, to] of [
          [dtype, "float32"],
          ["float32", dtype],
        ] as const) {
          const q = make(v.q as number[], shape(c.qLen), from);
          const k = make(v.k as number[], kvShape, from);
          const val = make(v.v as number[], kvShape, from);
          const options = { ...attentionCaseOptions(c), outputDtype: to };
          if (!declared()) {
            await expect(ctx.backend().attention(q, k, val, options)).rejects.toMatchObject({
              code: "INVALID_DTYPE",
            });
            continue;
          }
          const out = (await ctx.backend().attention(q, k, val, options)).output;
          expect(tensorDtype(out, "output")).toBe(to);
          const expected = valuesOf(attentionExpected(q, k, val, attentionCaseOptions(c)));
          expect(maxRelativeError(valuesOf(out), expected)).toBeLessThanOrEqual(
            dtypeTolerance(to, ctx.tolerance),
          );
        }
      });

      it("in place, the rounded result lands in the caller's array", async () => {
        const x = stored(
          Array.from({ length: 2 * 3 * 8 }, (_, i) => Math.sin(i)),
          [1, 3, 2, 8],
          dtype,
          "bshd",
        ) as HeadsTensor;
        const spec = {
          headDim: 8,
          rotaryDim: 8,
          base: 10000,
          pairing: "half",
          scaling: { type: "none" },
        } as const;
        if (!declared()) {
          await expect(ctx.backend().applyRope(x, spec, { inPlace: true })).rejects.toMatchObject({
            code: "INVALID_DTYPE",
          });
          return;
        }
        const expected = valuesOf(applyRopeReference(widenTensor(x, "x"), spec, { positions: 3 }));
        const out = await ctx.backend().applyRope(x, spec, { positions: 3, inPlace: true });
        expect(out.data).toBe(x.data);
        expect(maxRelativeError(valuesOf(x), expected)).toBeLessThanOrEqual(tol);
      });
    });
  }
}
