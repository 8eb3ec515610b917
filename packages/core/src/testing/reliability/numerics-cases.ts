import type { AttentionOptions } from "../../attention/plan.js";
import { seededValues } from "../../cases/seeded.js";
import type { HeadsTensor } from "../../types.js";

/** One attention call at the edge of f32: every backend must return what the f64 reference returns. */
export interface NumericsCase {
  readonly name: string;
  /** Fresh inputs and options of the call. */
  readonly make: () => { q: HeadsTensor; k: HeadsTensor; v: HeadsTensor; options: AttentionOptions };
}

/** torch.finfo(torch.float32).min: what HF writes into the padding positions of an additive mask. */
export const FINFO_F32_MIN = -3.4028234663852886e38;

function t(
  seed: string,
  shape: [number, number, number, number],
  scale = 1,
  set?: (i: number) => number | undefined,
): HeadsTensor {
  const values = seededValues(
    seed,
    shape.reduce((a, b) => a * b, 1),
  );
  const data = Float32Array.from(values, (v, i) => set?.(i) ?? v * scale);
  return { data, shape, layout: "bhsd" };
}

const qs: [number, number, number, number] = [1, 2, 4, 8];
const ks: [number, number, number, number] = [1, 2, 16, 8];

/** Inputs a case overrides; q, k, v default to seeded [1, 2, 4|16, 8] tensors, options to `{ returnLse: true }`. */
interface EdgeInputs {
  q?: HeadsTensor;
  k?: HeadsTensor;
  v?: HeadsTensor;
  options?: AttentionOptions;
}

function edge(name: string, make: () => EdgeInputs): NumericsCase {
  return {
    name,
    make: () => {
      const m = make();
      return {
        q: m.q ?? t("q", qs),
        k: m.k ?? t("k", ks),
        v: m.v ?? t("v", ks),
        options: m.options ?? { returnLse: true },
      };
    },
  };
}

/** A mask over the 16 keys, broadcast over batch and heads, for `rows` query rows (1: broadcast too). */
function mask(rows: number, value: (j: number) => number, type: "additive" | "boolean" = "additive") {
  const n = rows * 16;
  const data =
    type === "additive"
      ? Float32Array.from({ length: n }, (_, j) => value(j))
      : Uint8Array.from({ length: n }, (_, j) => value(j));
  return { data, shape: [1, 1, rows, 16] as [number, number, number, number] };
}

const nanAt = (index: number) => (i: number) => (i === index ? Number.NaN : undefined);

/** Large finite inputs, ±∞ and NaN, fully masked rows, finfo.min masks: one documented outcome for all. */
export const NUMERICS_CASES: readonly NumericsCase[] = [
  edge("q and k × 1e20 (scores past f32's range, exact answer finite)", () => ({
    q: t("q", qs, 1e20),
    k: t("k", ks, 1e20),
  })),
  edge("q and k × 1e30 with softcap 50 (scores bounded by construction)", () => ({
    q: t("q", qs, 1e30),
    k: t("k", ks, 1e30),
    options: { softcap: 50, returnLse: true },
  })),
  edge("v = 1e38 over 16 keys (a weighted mean of 1e38 is 1e38)", () => ({ v: t("v", ks, 1, () => 1e38) })),
  edge("v = ±3e38 mixed (partial sums past f32's range)", () => ({
    q: t("q", qs, 0.01),
    v: t("v", ks, 1, (i) => (i % 3 === 0 ? -3e38 : 3e38)),
    options: {},
  })),
  edge("a NaN in k (that row's keys all see it: NaN rows)", () => ({ k: t("k", ks, 1, nanAt(8 * 3 + 2)) })),
  edge("a NaN in k behind the causal bound (rows that cannot see it stay finite)", () => ({
    q: t("q", [1, 2, 16, 8]),
    k: t("k", ks, 1, nanAt(8 * 9)),
    options: { causal: true, returnLse: true },
  })),
  edge("all of k NaN", () => ({ k: t("k", ks, 1, () => Number.NaN) })),
  edge("a NaN in v", () => ({ v: t("v", ks, 1, nanAt(5)) })),
  edge("+∞ in q", () => ({ q: t("q", qs, 1, (i) => (i === 3 ? Number.POSITIVE_INFINITY : undefined)) })),
  edge("−∞ in the additive mask removes a key", () => ({
    options: { returnLse: true, mask: mask(1, (j) => (j % 2 ? Number.NEGATIVE_INFINITY : 0)) },
  })),
  edge("a row masked only by finfo.min (uniform average, lse ≈ −3.4e38)", () => ({
    options: { returnLse: true, mask: mask(4, (j) => (j < 16 ? FINFO_F32_MIN : 0)) },
  })),
  edge("HF padding: finfo.min on the first 5 keys plus causal", () => ({
    q: t("q", [1, 2, 16, 8]),
    options: { causal: true, returnLse: true, mask: mask(1, (j) => (j < 5 ? FINFO_F32_MIN : 0)) },
  })),
  edge("fully masked rows: top-left causal, window 2, qLen 7 > kvLen 3", () => ({
    q: t("q", [1, 1, 7, 4]),
    k: t("k", [1, 1, 3, 4]),
    v: t("v", [1, 1, 3, 4]),
    options: { causal: "top-left", window: 2, returnLse: true },
  })),
  edge("fully masked rows: bottom-right causal, qLen 6 > kvLen 2", () => ({
    q: t("q", [1, 2, 6, 4]),
    k: t("k", [1, 1, 2, 4]),
    v: t("v", [1, 1, 2, 4]),
    options: { causal: true, returnLse: true },
  })),
  edge("a boolean mask that removes every key of some rows", () => ({
    options: { returnLse: true, mask: mask(4, (j) => (j >= 32 ? 1 : 0), "boolean") },
  })),
  edge("tiny values (1e-30) keep their relative precision", () => ({ v: t("v", ks, 1e-30) })),
];
