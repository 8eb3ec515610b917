// Inputs of the panels, deterministic so the browser test can recompute the numbers the page shows.

/** n values in [−1, 1) from a mulberry32 stream. */
export function seeded(seed: number, n: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1;
  }
  return out;
}

/** The relative-position panel: one q and one k of 64 channels, positions 0 … RELATIVE_N − 1. */
export const RELATIVE_DIM = 64;
export const RELATIVE_N = 24;
export const relativeQ = (): Float32Array => seeded(11, RELATIVE_DIM);
export const relativeK = (): Float32Array => seeded(23, RELATIVE_DIM);

/** The config shown in the frequencies panel at start: a Qwen2.5-style YaRN config. */
export const DEFAULT_CONFIG = {
  model_type: "qwen2",
  hidden_size: 3584,
  num_attention_heads: 28,
  num_key_value_heads: 4,
  max_position_embeddings: 131072,
  rope_theta: 1000000,
  rope_scaling: { type: "yarn", factor: 4, original_max_position_embeddings: 32768 },
};

/** The attention panel's sentence and its permutation. */
export const SENTENCE = ["我", "爱", "北京", "天安门"];
export const PERMUTATION = [2, 1, 0, 3]; // 北京 爱 我 天安门
export const TOKEN_DIM = 16;
export const tokenEmbedding = (i: number): Float32Array => seeded(101 + i, TOKEN_DIM);
