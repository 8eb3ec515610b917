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

/** Large finite inputs, ±∞ and NaN, fully masked rows, finfo.min masks: one documented outcome for all. */
export const NUMERICS_CASES: readonly NumericsCase[] = [
  {
    name: "q and k × 1e20 (scores past f32's range, exact answer finite)",
    make: () => ({ q: t("q", qs, 1e20), k: t("k", ks, 1e20), v: t("v", ks), options: { returnLse: true } }),
  },
  {
    name: "q and k × 1e30 with softcap 50 (scores bounded by construction)",
    make: () => ({
      q: t("q", qs, 1e30),
      k: t("k", ks, 1e30),
      v: t("v", ks),
      options: { softcap: 50, returnLse: true },
    }),
  },
  {
    name: "v = 1e38 over 16 keys (a weighted mean of 1e38 is 1e38)",
    make: () => ({
      q: t("q", qs),
      k: t("k", ks),
      v: t("v", ks, 1, () => 1e38),
      options: { returnLse: true },
    }),
  },
  {
    name: "v = ±3e38 mixed (partial sums past f32's range)",
    make: () => ({
      q: t("q", qs, 0.01),
      k: t("k", ks),
      v: t("v", ks, 1, (i) => (i % 3 === 0 ? -3e38 : 3e38)),
      options: {},
    }),
  },
  {
    name: "a NaN in k (that row's keys all see it: NaN rows)",
    make: () => ({
      q: t("q", qs),
      k: t("k", ks, 1, (i) => (i === 8 * 3 + 2 ? Number.NaN : undefined)),
      v: t("v", ks),
      options: { returnLse: true },
    }),
  },
  {
    name: "a NaN in k behind the causal bound (rows that cannot see it stay finite)",
    make: () => ({
      q: t("q", [1, 2, 16, 8]),
      k: t("k", ks, 1, (i) => (i === 8 * 9 ? Number.NaN : undefined)),
      v: t("v", ks),
      options: { causal: true, returnLse: true },
    }),
  },
  {
    name: "all of k NaN",
    make: () => ({
      q: t("q", qs),
      k: t("k", ks, 1, () => Number.NaN),
      v: t("v", ks),
      options: { returnLse: true },
    }),
  },
  {
    name: "a NaN in v",
    make: () => ({
      q: t("q", qs),
      k: t("k", ks),
      v: t("v", ks, 1, (i) => (i === 5 ? Number.NaN : undefined)),
      options: { returnLse: true },
    }),
  },
  {
    name: "+∞ in q",
    make: () => ({
      q: t("q", qs, 1, (i) => (i === 3 ? Number.POSITIVE_INFINITY : undefined)),
      k: t("k", ks),
      v: t("v", ks),
      options: { returnLse: true },
    }),
  },
  {
    name: "−∞ in the additive mask removes a key",
    make: () => ({
      q: t("q", qs),
      k: t("k", ks),
      v: t("v", ks),
      options: {
        returnLse: true,
        mask: {
          data: Float32Array.from({ length: 16 }, (_, j) => (j % 2 ? Number.NEGATIVE_INFINITY : 0)),
          shape: [1, 1, 1, 16],
        },
      },
    }),
  },
  {
    name: "a row masked only by finfo.min (uniform average, lse ≈ −3.4e38)",
    make: () => ({
      q: t("q", qs),
      k: t("k", ks),
      v: t("v", ks),
      options: {
        returnLse: true,
        mask: {
          data: Float32Array.from({ length: 4 * 16 }, (_, j) => (j < 16 ? FINFO_F32_MIN : 0)),
          shape: [1, 1, 4, 16],
        },
      },
    }),
  },
  {
    name: "HF padding: finfo.min on the first 5 keys plus causal",
    make: () => ({
      q: t("q", [1, 2, 16, 8]),
      k: t("k", ks),
      v: t("v", ks),
      options: {
        causal: true,
        returnLse: true,
        mask: {
          data: Float32Array.from({ length: 16 }, (_, j) => (j < 5 ? FINFO_F32_MIN : 0)),
          shape: [1, 1, 1, 16],
        },
      },
    }),
  },
  {
    name: "fully masked rows: top-left causal, window 2, qLen 7 > kvLen 3",
    make: () => ({
      q: t("q", [1, 1, 7, 4]),
      k: t("k", [1, 1, 3, 4]),
      v: t("v", [1, 1, 3, 4]),
      options: { causal: "top-left", window: 2, returnLse: true },
    }),
  },
  {
    name: "fully masked rows: bottom-right causal, qLen 6 > kvLen 2",
    make: () => ({
      q: t("q", [1, 2, 6, 4]),
      k: t("k", [1, 1, 2, 4]),
      v: t("v", [1, 1, 2, 4]),
      options: { causal: true, returnLse: true },
    }),
  },
  {
    name: "a boolean mask that removes every key of some rows",
    make: () => ({
      q: t("q", qs),
      k: t("k", ks),
      v: t("v", ks),
      options: {
        returnLse: true,
        mask: {
          data: Uint8Array.from({ length: 4 * 16 }, (_, j) => (j >= 32 ? 1 : 0)),
          shape: [1, 1, 4, 16],
        },
      },
    }),
  },
  {
    name: "tiny values (1e-30) keep their relative precision",
    make: () => ({ q: t("q", qs), k: t("k", ks), v: t("v", ks, 1e-30), options: { returnLse: true } }),
  },
];
