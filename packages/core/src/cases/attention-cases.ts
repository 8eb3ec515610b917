import type { AttentionOptions, AttentionSizes, CausalMode } from "../attention/plan.js";
import type { Layout, RopeSpec } from "../types.js";
import { HF_SPECS } from "./rope-cases.js";
import { seededValues } from "./seeded.js";

/** An attention case. q, k, v (and the mask) are seeded from the id. */
export interface AttentionCase extends AttentionSizes {
  readonly id: string;
  readonly op: "attention";
  /** Default headDim. */
  readonly vHeadDim?: number;
  /** Layout of q. */
  readonly layout: Layout;
  /** Layout of k and v, default `layout`. */
  readonly kvLayout?: Layout;
  /** k and v hold this many positions, of which the first kvLen are valid (`kvLength`). */
  readonly kvCapacity?: number;
  readonly causal?: CausalMode;
  readonly window?: number;
  readonly softcap?: number;
  readonly scale?: number;
  /** ALiBi with the standard slopes 2^(−8(h+1)/H). */
  readonly alibi?: boolean;
  readonly mask?: "padding" | "additive" | "masked-row";
  readonly rope?: RopeSpec;
  readonly returnLse?: boolean;
  /** GPT-OSS attention sinks: one seeded logit per query head. */
  readonly sinks?: boolean;
}

/** The standard ALiBi slopes for `heads` heads (a power of two): 2^(−8(h+1)/heads). */
export function alibiSlopes(heads: number): Float64Array {
  return Float64Array.from({ length: heads }, (_, h) => 2 ** ((-8 * (h + 1)) / heads));
}

/** The attention options of a case, masks generated deterministically from its id. */
export function attentionCaseOptions(c: AttentionCase): AttentionOptions {
  const options: AttentionOptions = {
    ...(c.causal !== undefined ? { causal: c.causal } : {}),
    ...(c.window !== undefined ? { window: c.window } : {}),
    ...(c.softcap !== undefined ? { softcap: c.softcap } : {}),
    ...(c.scale !== undefined ? { scale: c.scale } : {}),
    ...(c.alibi ? { alibiSlopes: alibiSlopes(c.qHeads) } : {}),
    ...(c.rope ? { rope: { rope: c.rope } } : {}),
    ...(c.kvCapacity !== undefined ? { kvLength: c.kvLen } : {}),
    ...(c.returnLse ? { returnLse: true } : {}),
    ...(c.sinks ? { sinks: seededValues(`${c.id}/sinks`, c.qHeads) } : {}),
  };
  const kvSeq = c.kvCapacity ?? c.kvLen;
  if (c.mask === "padding") {
    // Boolean [batch, 1, 1, kvLen]: batch row b pads its last b keys away.
    const data = new Uint8Array(c.batch * kvSeq).fill(1);
    for (let b = 0; b < c.batch; b++) for (let j = c.kvLen - b; j < c.kvLen; j++) data[b * kvSeq + j] = 0;
    return { ...options, mask: { data, shape: [c.batch, 1, 1, kvSeq] } };
  }
  if (c.mask === "additive") {
    // Additive [1, heads, qLen, kvLen] in [−3, 0], with every 7th entry −∞.
    const n = c.qHeads * c.qLen * kvSeq;
    const values = seededValues(`${c.id}/mask`, n);
    const data = Float64Array.from(values, (x, i) =>
      i % 7 === 3 ? Number.NEGATIVE_INFINITY : -Math.abs(x) * 1.5,
    );
    return { ...options, mask: { data, shape: [1, c.qHeads, c.qLen, kvSeq] } };
  }
  if (c.mask === "masked-row") {
    // Boolean [1, 1, qLen, kvLen]: query row 1 sees no key at all; the rest see every key.
    const data = new Uint8Array(c.qLen * kvSeq).fill(1);
    data.fill(0, kvSeq, 2 * kvSeq);
    return { ...options, mask: { data, shape: [1, 1, c.qLen, kvSeq] } };
  }
  return options;
}

/** Llama-3.1-style RoPE (head 16), the same spec as the `hf-llama31` RoPE cases. */
const llama3Spec: RopeSpec = HF_SPECS.llama31;

const base = { op: "attention", batch: 1, qHeads: 2, kvHeads: 2, headDim: 16, layout: "bhsd" } as const;

/** Attention cases: every option, and the combinations that matter. */
export const ATTENTION_CASES: readonly AttentionCase[] = [
  { ...base, id: "attention/plain", qLen: 8, kvLen: 8 },
  {
    ...base,
    id: "attention/causal-odd",
    batch: 2,
    qHeads: 3,
    kvHeads: 3,
    qLen: 17,
    kvLen: 17,
    headDim: 8,
    layout: "bshd",
    causal: true,
  },
  { ...base, id: "attention/decode-q1-kv37-gqa", qHeads: 8, kvHeads: 2, qLen: 1, kvLen: 37, causal: true },
  {
    ...base,
    id: "attention/decode-q4-kv37-lse",
    batch: 2,
    qHeads: 4,
    kvHeads: 4,
    qLen: 4,
    kvLen: 37,
    causal: true,
    returnLse: true,
  },
  {
    ...base,
    id: "attention/mqa-mixed-layouts",
    qHeads: 4,
    kvHeads: 1,
    qLen: 9,
    kvLen: 9,
    layout: "bshd",
    kvLayout: "bhsd",
    causal: true,
  },
  { ...base, id: "attention/head80", qLen: 5, kvLen: 7, headDim: 80, causal: true },
  { ...base, id: "attention/top-left", qLen: 4, kvLen: 9, causal: "top-left" },
  { ...base, id: "attention/window", qLen: 20, kvLen: 20, window: 5, causal: true },
  {
    ...base,
    id: "attention/window-decode-gqa",
    qHeads: 4,
    kvHeads: 2,
    qLen: 3,
    kvLen: 37,
    window: 8,
    layout: "bshd",
  },
  { ...base, id: "attention/softcap-scale", qLen: 6, kvLen: 10, softcap: 5, scale: 0.9 },
  { ...base, id: "attention/padding-mask", batch: 3, qLen: 6, kvLen: 6, mask: "padding", causal: true },
  { ...base, id: "attention/additive-mask", qLen: 5, kvLen: 9, mask: "additive", returnLse: true },
  { ...base, id: "attention/masked-row-zeros", qLen: 4, kvLen: 6, mask: "masked-row", returnLse: true },
  {
    ...base,
    id: "attention/alibi-causal",
    qHeads: 4,
    kvHeads: 4,
    qLen: 7,
    kvLen: 7,
    alibi: true,
    causal: true,
  },
  {
    ...base,
    id: "attention/fused-rope-decode-gqa",
    qHeads: 4,
    kvHeads: 2,
    qLen: 4,
    kvLen: 37,
    rope: llama3Spec,
    causal: true,
  },
  {
    ...base,
    id: "attention/fused-rope-partial-interleaved",
    qLen: 6,
    kvLen: 6,
    headDim: 12,
    layout: "bshd",
    rope: { headDim: 12, rotaryDim: 8, base: 10000, pairing: "interleaved", scaling: { type: "none" } },
    causal: true,
  },
  { ...base, id: "attention/kv-capacity", qLen: 1, kvLen: 11, kvCapacity: 16, causal: true },
  { ...base, id: "attention/v-headdim-12", qLen: 3, kvLen: 5, vHeadDim: 12 },
  {
    ...base,
    id: "attention/everything",
    batch: 2,
    qHeads: 4,
    kvHeads: 2,
    qLen: 4,
    kvLen: 37,
    kvCapacity: 40,
    layout: "bshd",
    kvLayout: "bhsd",
    causal: true,
    window: 16,
    softcap: 30,
    mask: "padding",
    rope: llama3Spec,
    returnLse: true,
  },
  // Longer than one tile (kernels tile by 32 queries × 64 keys): the running max must be rescaled.
  { ...base, id: "attention/tiles-causal", qLen: 70, kvLen: 70, headDim: 8, causal: true, returnLse: true },
  {
    ...base,
    id: "attention/tiles-window-decode",
    qHeads: 4,
    kvHeads: 1,
    qLen: 5,
    kvLen: 200,
    headDim: 8,
    window: 100,
  },
  {
    ...base,
    id: "attention/tiles-noncausal-mask",
    qLen: 40,
    kvLen: 150,
    headDim: 8,
    mask: "additive",
    softcap: 8,
  },
  // GPT-OSS: sinks in the denominator, sliding window, GQA; and a fully masked row, which a sink keeps at 0.
  {
    ...base,
    id: "attention/sinks-gpt-oss-window",
    qHeads: 4,
    kvHeads: 2,
    qLen: 9,
    kvLen: 9,
    headDim: 8,
    causal: true,
    window: 4,
    sinks: true,
    returnLse: true,
  },
  {
    ...base,
    id: "attention/sinks-masked-row",
    qLen: 4,
    kvLen: 12,
    headDim: 8,
    mask: "masked-row",
    sinks: true,
    returnLse: true,
  },
];
