import type { Layout, RopeSpec } from "../types.js";

/** An applyRope case. `hfConfig`, when present, is where `spec` came from (checked by core's tests). */
export interface ApplyRopeCase {
  readonly id: string;
  readonly op: "applyRope";
  readonly spec: RopeSpec;
  readonly hfConfig?: Readonly<Record<string, unknown>>;
  readonly layout: Layout;
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  /** Start offset or explicit ids (length seq or batch·seq). Default offset 0. */
  readonly positions?: number | readonly number[];
  readonly inverse?: boolean;
  readonly seqLen?: number;
}

/** A sinusoidal-table case: positions, dimension and base. */
export interface SinusoidalCase {
  readonly id: string;
  readonly op: "sinusoidal";
  readonly positions: { readonly start: number; readonly length: number } | readonly number[];
  readonly dim: number;
  readonly base: number;
}

/** An addSinusoidal case: embeddings [batch, seq, dim] seeded from the id, plus positions and base. */
export interface AddSinusoidalCase {
  readonly id: string;
  readonly op: "addSinusoidal";
  readonly batch: number;
  readonly seq: number;
  readonly dim: number;
  readonly positions?: number | readonly number[];
  readonly base?: number;
}

/** An addLearned case: embeddings and a learned table seeded from the id, plus positions. */
export interface AddLearnedCase {
  readonly id: string;
  readonly op: "addLearned";
  readonly batch: number;
  readonly seq: number;
  readonly dim: number;
  readonly tableRows: number;
  readonly positions?: number | readonly number[];
}

/** The position-encoding cases. */
export type EncodingCase = ApplyRopeCase | SinusoidalCase | AddSinusoidalCase | AddLearnedCase;

const half = (headDim: number, base = 10000, rotaryDim = headDim): RopeSpec => ({
  headDim,
  rotaryDim,
  base,
  pairing: "half",
  scaling: { type: "none" },
});
const interleaved = (headDim: number, base = 10000, rotaryDim = headDim): RopeSpec => ({
  ...half(headDim, base, rotaryDim),
  pairing: "interleaved",
});

/** Small but real-shaped configs, in the form HF `config.json` files have. */
export const HF_CONFIGS = {
  llama31: {
    model_type: "llama",
    hidden_size: 64,
    num_attention_heads: 4,
    max_position_embeddings: 131072,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    },
  },
  qwenYarn: {
    model_type: "qwen2",
    hidden_size: 96,
    num_attention_heads: 6,
    max_position_embeddings: 131072,
    rope_theta: 1000000,
    rope_scaling: { type: "yarn", factor: 4, original_max_position_embeddings: 32768 },
  },
  deepseekYarn: {
    model_type: "deepseek_v3",
    hidden_size: 128,
    num_attention_heads: 4,
    head_dim: 16,
    max_position_embeddings: 163840,
    rope_theta: 10000,
    rope_scaling: {
      type: "yarn",
      factor: 40,
      original_max_position_embeddings: 4096,
      beta_fast: 32,
      beta_slow: 1,
      mscale: 1,
      // biome-ignore lint/suspicious/noApproximativeNumericConstant: DeepSeek-V3's config value, not √½
      mscale_all_dim: 0.707,
    },
  },
  phi3Longrope: {
    model_type: "phi3",
    hidden_size: 48,
    num_attention_heads: 4,
    max_position_embeddings: 131072,
    original_max_position_embeddings: 4096,
    rope_theta: 10000,
    rope_scaling: {
      type: "longrope",
      short_factor: [1, 1.02, 1.05, 1.1, 1.2, 1.5],
      long_factor: [1, 1.5, 3, 6, 12, 24],
    },
  },
  neoxPartial: {
    model_type: "gpt_neox",
    hidden_size: 40,
    num_attention_heads: 4,
    max_position_embeddings: 2048,
    rotary_emb_base: 10000,
    rotary_pct: 0.4,
  },
  gptj: {
    model_type: "gptj",
    n_embd: 48,
    n_head: 3,
    rotary_dim: 8,
    n_positions: 2048,
  },
  dynamicNtk: {
    model_type: "llama",
    hidden_size: 64,
    num_attention_heads: 4,
    max_position_embeddings: 2048,
    rope_theta: 10000,
    rope_scaling: { rope_type: "dynamic", factor: 2 },
  },
  linearV5: {
    model_type: "llama",
    hidden_size: 64,
    num_attention_heads: 4,
    max_position_embeddings: 4096,
    rope_parameters: { rope_type: "linear", rope_theta: 10000, factor: 4 },
  },
} as const;

/** Specs of the HF configs above, written out by hand (core's tests check ropeSpecFromHF gives these). */
export const HF_SPECS: Record<keyof typeof HF_CONFIGS, RopeSpec> = {
  llama31: {
    headDim: 16,
    rotaryDim: 16,
    base: 500000,
    pairing: "half",
    scaling: {
      type: "llama3",
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    },
  },
  qwenYarn: {
    headDim: 16,
    rotaryDim: 16,
    base: 1000000,
    pairing: "half",
    scaling: {
      type: "yarn",
      factor: 4,
      originalMaxPositionEmbeddings: 32768,
      betaFast: 32,
      betaSlow: 1,
      truncate: true,
    },
  },
  deepseekYarn: {
    headDim: 16,
    rotaryDim: 16,
    base: 10000,
    pairing: "half",
    scaling: {
      type: "yarn",
      factor: 40,
      originalMaxPositionEmbeddings: 4096,
      betaFast: 32,
      betaSlow: 1,
      mscale: 1,
      // biome-ignore lint/suspicious/noApproximativeNumericConstant: DeepSeek-V3's config value, not √½
      mscaleAllDim: 0.707,
      truncate: true,
    },
  },
  phi3Longrope: {
    headDim: 12,
    rotaryDim: 12,
    base: 10000,
    pairing: "half",
    scaling: {
      type: "longrope",
      shortFactor: [1, 1.02, 1.05, 1.1, 1.2, 1.5],
      longFactor: [1, 1.5, 3, 6, 12, 24],
      originalMaxPositionEmbeddings: 4096,
      factor: 32,
    },
  },
  neoxPartial: { headDim: 10, rotaryDim: 4, base: 10000, pairing: "half", scaling: { type: "none" } },
  gptj: { headDim: 16, rotaryDim: 8, base: 10000, pairing: "interleaved", scaling: { type: "none" } },
  dynamicNtk: {
    headDim: 16,
    rotaryDim: 16,
    base: 10000,
    pairing: "half",
    scaling: { type: "dynamic", factor: 2, maxPositionEmbeddings: 2048 },
  },
  linearV5: {
    headDim: 16,
    rotaryDim: 16,
    base: 10000,
    pairing: "half",
    scaling: { type: "linear", factor: 4 },
  },
};

const fromHF = (
  name: keyof typeof HF_CONFIGS,
  rest: Omit<ApplyRopeCase, "id" | "op" | "spec" | "hfConfig">,
  suffix = "",
): ApplyRopeCase => ({
  id: `rope/hf-${name}${suffix}`,
  op: "applyRope",
  spec: HF_SPECS[name],
  hfConfig: HF_CONFIGS[name],
  ...rest,
});

const range = (start: number, n: number) => Array.from({ length: n }, (_, i) => start + i);

/** Every position-encoding case. */
export const ENCODING_CASES: readonly EncodingCase[] = [
  // Plain RoPE, both pairings and layouts, odd shapes.
  { id: "rope/half-bshd", op: "applyRope", spec: half(8), layout: "bshd", batch: 2, seq: 5, heads: 3 },
  { id: "rope/half-bhsd", op: "applyRope", spec: half(8), layout: "bhsd", batch: 2, seq: 5, heads: 3 },
  {
    id: "rope/interleaved-bshd",
    op: "applyRope",
    spec: interleaved(8),
    layout: "bshd",
    batch: 2,
    seq: 5,
    heads: 3,
  },
  {
    id: "rope/interleaved-bhsd",
    op: "applyRope",
    spec: interleaved(8),
    layout: "bhsd",
    batch: 2,
    seq: 5,
    heads: 3,
  },
  { id: "rope/odd-shape-head6", op: "applyRope", spec: half(6), layout: "bshd", batch: 3, seq: 17, heads: 5 },
  {
    id: "rope/odd-shape-head10-partial",
    op: "applyRope",
    spec: half(10, 10000, 6),
    layout: "bhsd",
    batch: 3,
    seq: 17,
    heads: 5,
  },
  {
    id: "rope/interleaved-head10-partial",
    op: "applyRope",
    spec: interleaved(10, 10000, 4),
    layout: "bshd",
    batch: 3,
    seq: 17,
    heads: 5,
  },
  { id: "rope/head2", op: "applyRope", spec: half(2), layout: "bshd", batch: 1, seq: 4, heads: 2 },
  // Positions: offsets (KV-cache decode), explicit ids per row, far positions.
  {
    id: "rope/offset-decode",
    op: "applyRope",
    spec: half(16),
    layout: "bshd",
    batch: 2,
    seq: 1,
    heads: 4,
    positions: 37,
  },
  {
    id: "rope/offset-131000",
    op: "applyRope",
    spec: half(16, 500000),
    layout: "bhsd",
    batch: 1,
    seq: 9,
    heads: 2,
    positions: 131000,
  },
  {
    id: "rope/ids-per-row",
    op: "applyRope",
    spec: half(8),
    layout: "bshd",
    batch: 3,
    seq: 4,
    heads: 2,
    positions: [0, 1, 2, 3, 7, 8, 9, 10, 100, 5, 131072, 120001],
  },
  {
    id: "rope/ids-shared",
    op: "applyRope",
    spec: interleaved(8),
    layout: "bhsd",
    batch: 2,
    seq: 4,
    heads: 2,
    positions: [3, 1, 4, 1],
  },
  {
    id: "rope/inverse",
    op: "applyRope",
    spec: half(8),
    layout: "bshd",
    batch: 1,
    seq: 6,
    heads: 2,
    positions: 1000,
    inverse: true,
  },
  {
    id: "rope/base-1e6",
    op: "applyRope",
    spec: half(12, 1e6),
    layout: "bshd",
    batch: 1,
    seq: 5,
    heads: 2,
    positions: 100003,
  },
  // Scaling kinds, from real-shaped HF configs.
  fromHF("llama31", { layout: "bshd", batch: 1, seq: 6, heads: 2, positions: 130000 }),
  fromHF("llama31", { layout: "bhsd", batch: 2, seq: 5, heads: 2 }, "-start"),
  fromHF("qwenYarn", { layout: "bshd", batch: 1, seq: 5, heads: 2, positions: 100000 }),
  fromHF("deepseekYarn", { layout: "bhsd", batch: 1, seq: 5, heads: 3, positions: 150000 }),
  fromHF("phi3Longrope", { layout: "bshd", batch: 1, seq: 5, heads: 2, positions: 10 }, "-short"),
  fromHF("phi3Longrope", { layout: "bshd", batch: 1, seq: 5, heads: 2, positions: 5000 }, "-long"),
  fromHF("neoxPartial", { layout: "bshd", batch: 2, seq: 5, heads: 4, positions: 3 }),
  fromHF("gptj", { layout: "bshd", batch: 1, seq: 5, heads: 3, positions: 11 }),
  fromHF("dynamicNtk", { layout: "bshd", batch: 1, seq: 4, heads: 2, positions: 100 }, "-within"),
  fromHF("dynamicNtk", { layout: "bshd", batch: 1, seq: 4, heads: 2, positions: 5000 }, "-grown"),
  fromHF(
    "dynamicNtk",
    { layout: "bshd", batch: 1, seq: 4, heads: 2, positions: 10, seqLen: 8192 },
    "-explicit-seqlen",
  ),
  fromHF("linearV5", { layout: "bhsd", batch: 1, seq: 5, heads: 2, positions: range(16000, 5) }),
  {
    id: "rope/yarn-no-truncate-attention-factor",
    op: "applyRope",
    spec: {
      headDim: 12,
      rotaryDim: 8,
      base: 10000,
      pairing: "interleaved",
      scaling: {
        type: "yarn",
        factor: 8,
        originalMaxPositionEmbeddings: 2048,
        betaFast: 16,
        betaSlow: 2,
        attentionFactor: 1.3,
        truncate: false,
      },
    },
    layout: "bhsd",
    batch: 2,
    seq: 3,
    heads: 2,
    positions: 12345,
  },
  // Absolute encodings.
  { id: "sinusoidal/range", op: "sinusoidal", positions: { start: 0, length: 9 }, dim: 16, base: 10000 },
  { id: "sinusoidal/odd-dim-far", op: "sinusoidal", positions: [0, 5, 100000, 131072], dim: 7, base: 10000 },
  { id: "addSinusoidal/offset", op: "addSinusoidal", batch: 2, seq: 5, dim: 12, positions: 40 },
  {
    id: "addSinusoidal/ids",
    op: "addSinusoidal",
    batch: 2,
    seq: 3,
    dim: 8,
    positions: [1, 2, 3, 9, 9, 9],
    base: 500,
  },
  { id: "addLearned/offset", op: "addLearned", batch: 2, seq: 5, dim: 6, tableRows: 12, positions: 7 },
  {
    id: "addLearned/ids",
    op: "addLearned",
    batch: 3,
    seq: 2,
    dim: 4,
    tableRows: 10,
    positions: [0, 9, 3, 3, 8, 1],
  },
];

/** The applyRope options of a case (positions, inverse, seqLen), as the suites pass them. */
export function applyRopeCaseOptions(c: ApplyRopeCase): {
  positions?: number | readonly number[];
  inverse?: boolean;
  seqLen?: number;
} {
  return {
    ...(c.positions !== undefined ? { positions: c.positions } : {}),
    ...(c.inverse ? { inverse: true } : {}),
    ...(c.seqLen !== undefined ? { seqLen: c.seqLen } : {}),
  };
}
