import type { Backend } from "../backend/contract.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import { ropeSpecFromHF } from "../rope/hf-config.js";
import type { RopeSpec, Tensor } from "../types.js";
import {
  type MultiHeadAttentionConfig,
  MultiHeadAttention,
  type MultiHeadAttentionWeights,
} from "./multi-head-attention.js";

/** Options of `attentionFromHF`. */
export interface AttentionFromHFOptions {
  /** Which decoder layer (its type — sliding or full — and RoPE follow from the config). */
  layerIdx: number;
}

type Json = Record<string, unknown>;

/** The model families whose attention module this reader knows field by field. */
const FAMILIES = [
  "llama",
  "mistral",
  "mixtral",
  "qwen2",
  "qwen2_moe",
  "qwen3",
  "qwen3_moe",
  "gemma",
  "gemma2",
  "gemma3",
  "gemma3_text",
  "olmo2",
  "gpt_oss",
  "phi3",
  "phi",
  "gpt_neox",
  "gptj",
  "qwen2_vl",
  "qwen2_5_vl",
  "qwen2_vl_text",
  "qwen2_5_vl_text",
] as const;

/** HF parameter names of an attention module (relative to it) and where each goes in the layer. */
const WEIGHT_NAMES: Readonly<Record<string, keyof MultiHeadAttentionWeights>> = {
  "q_proj.weight": "q",
  "k_proj.weight": "k",
  "v_proj.weight": "v",
  "q_proj.bias": "qBias",
  "k_proj.bias": "kBias",
  "v_proj.bias": "vBias",
  "qkv_proj.weight": "qkv",
  "qkv_proj.bias": "qkvBias",
  "query_key_value.weight": "qkv",
  "query_key_value.bias": "qkvBias",
  "o_proj.weight": "o",
  "o_proj.bias": "oBias",
  "dense.weight": "o",
  "dense.bias": "oBias",
  "out_proj.weight": "o",
  "out_proj.bias": "oBias",
  "q_norm.weight": "qNorm",
  "k_norm.weight": "kNorm",
  sinks: "sinks",
};

function notImplemented(field: string, why: string): never {
  throw new RopekitError("NOT_IMPLEMENTED", `config field ${field}: ${why}`, field);
}

function invalid(field: string, expected: string, got: unknown): never {
  throw new RopekitError(
    "INVALID_CONFIG",
    `config field ${field} must be ${expected}, got ${describeValue(got)}`,
    field,
  );
}

function int(cfg: Json, ...keys: string[]): number | undefined {
  for (const key of keys) {
    const v = cfg[key];
    if (v === undefined || v === null) continue;
    if (!Number.isSafeInteger(v) || (v as number) < 1) invalid(key, "a positive integer", v);
    return v as number;
  }
  return undefined;
}

/**
 * The weights of one attention module by their HF names, relative (`q_proj.weight`) or full
 * (`model.layers.3.self_attn.q_proj.weight`): names with a `layers.N.` part are kept only for this layer,
 * the known suffix is matched, anything else (MLP, norms of other modules) is ignored.
 */
function moduleWeights(
  weights: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>,
  layerIdx: number,
): MultiHeadAttentionWeights {
  const entries = weights instanceof Map ? [...weights.entries()] : Object.entries(weights);
  const out: Partial<Record<keyof MultiHeadAttentionWeights, Tensor>> = {};
  const from: Partial<Record<keyof MultiHeadAttentionWeights, string>> = {};
  for (const [name, tensor] of entries) {
    const layer = /(?:^|\.)layers\.(\d+)\./.exec(name);
    if (layer && Number(layer[1]) !== layerIdx) continue;
    const suffix = Object.keys(WEIGHT_NAMES).find((s) => name === s || name.endsWith(`.${s}`));
    if (suffix === undefined) continue;
    // Only the attention module's own parameters (e.g. not an MLP's `dense.weight`).
    const prefix = name.slice(0, name.length - suffix.length);
    if (prefix !== "" && !/(self_attn|attention|attn)\.$/.test(prefix)) continue;
    const slot = WEIGHT_NAMES[suffix] as keyof MultiHeadAttentionWeights;
    if (out[slot] !== undefined) {
      throw new RopekitError(
        "INVALID_OPTION",
        `weights hold both ${from[slot]} and ${name} for the same parameter`,
        name,
      );
    }
    if (tensor === null || typeof tensor !== "object" || !ArrayBuffer.isView(tensor.data)) {
      throw new RopekitError(
        "INVALID_OPTION",
        `weights[${JSON.stringify(name)}] must be a tensor {data, shape}`,
        name,
      );
    }
    out[slot] = tensor;
    from[slot] = name;
  }
  if (!out.o)
    throw new RopekitError(
      "INVALID_OPTION",
      "weights lack the output projection (o_proj, dense or out_proj)",
      "weights",
    );
  return out as MultiHeadAttentionWeights;
}

/** Is layer `i` a sliding-window layer, and with which window, as the family's config class decides. */
function slidingWindow(cfg: Json, family: string, i: number): number | undefined {
  const window = int(cfg, "sliding_window");
  const types = cfg["layer_types"];
  if (Array.isArray(types)) {
    const t = types[i];
    if (t !== "sliding_attention" && t !== "full_attention")
      invalid(`layer_types[${i}]`, '"sliding_attention" or "full_attention"', t);
    if (t === "full_attention") return undefined;
    if (window === undefined)
      invalid("sliding_window", "a positive integer for a sliding_attention layer", cfg["sliding_window"]);
    return window;
  }
  if (window === undefined) return undefined;
  if (family === "gemma3" || family === "gemma3_text") {
    const pattern = int(cfg, "sliding_window_pattern") ?? 6;
    return (i + 1) % pattern !== 0 ? window : undefined;
  }
  if (family === "gemma2") return (i + 1) % 2 !== 0 ? window : undefined;
  if (family.startsWith("qwen")) {
    if (cfg["use_sliding_window"] !== true) return undefined;
    return i >= (int(cfg, "max_window_layers") ?? 0) ? window : undefined;
  }
  return window; // Mistral, Mixtral, Phi-3: every layer
}

/**
 * Builds the attention layer of a HuggingFace model from its `config.json` and checkpoint weights,
 * computing what transformers computes: head sizes (with the `n_embd` / `n_head` fallbacks), the score
 * scale (`query_pre_attn_scalar`), soft-cap, which layers slide (`layer_types`, `sliding_window_pattern`,
 * `use_sliding_window` / `max_window_layers`, Mistral's every-layer window), RoPE per layer type (Gemma-3's
 * `rope_local_base_freq`, per-layer-type `rope_parameters`), partial rotary, biases, fused qkv in the
 * GPT-NeoX and Phi-3 layouts, q/k RMSNorms (per head or over the projection, `1 + w` for Gemma), sinks.
 * A field that would change the result and that ropekit cannot honour raises NOT_IMPLEMENTED naming it.
 *
 * @example
 * ```ts
 * const config = JSON.parse(await readFile("config.json", "utf8"));
 * const layer = attentionFromHF(backend, config, await loadSafetensors("model.safetensors"), { layerIdx: 3 });
 * const cache = layer.createCache(1);
 * const y = await layer.forward(hiddenStates, { cache });
 * ```
 */
export function attentionFromHF(
  backend: Backend,
  config: unknown,
  weights: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>,
  options: AttentionFromHFOptions,
): MultiHeadAttention {
  if (config === null || typeof config !== "object" || Array.isArray(config))
    invalid("config", "a parsed config.json object", config);
  checkOptions(options, ["layerIdx"]);
  const layerIdx = options?.layerIdx;
  if (!Number.isSafeInteger(layerIdx) || layerIdx < 0) {
    throw new RopekitError(
      "INVALID_OPTION",
      `layerIdx must be an integer ≥ 0, got ${describeValue(layerIdx)}`,
      "layerIdx",
    );
  }
  // Multimodal configs keep the language model's fields in text_config.
  const top = config as Json;
  const cfg = (
    top["text_config"] !== null && typeof top["text_config"] === "object" ? top["text_config"] : top
  ) as Json;
  const family = String(cfg["model_type"] ?? top["model_type"] ?? "");
  if (!(FAMILIES as readonly string[]).includes(family)) {
    notImplemented(
      "model_type",
      `${describeValue(family)} is not a family ropekit reads (${FAMILIES.join(", ")})`,
    );
  }
  const layers = int(cfg, "num_hidden_layers", "n_layer");
  if (layers !== undefined && layerIdx >= layers) {
    throw new RopekitError(
      "INVALID_OPTION",
      `layerIdx ${layerIdx} is past num_hidden_layers (${layers})`,
      "layerIdx",
    );
  }
  if (cfg["qk_layernorm"] === true)
    notImplemented("qk_layernorm", "LayerNorm on q and k (Phi, StableLM) is not RMSNorm");

  const hiddenSize = int(cfg, "hidden_size", "n_embd");
  const numHeads = int(cfg, "num_attention_heads", "n_head");
  if (hiddenSize === undefined) invalid("hidden_size", "present (or n_embd)", undefined);
  if (numHeads === undefined) invalid("num_attention_heads", "present (or n_head)", undefined);
  const numKvHeads = int(cfg, "num_key_value_heads") ?? numHeads;
  const headDim = int(cfg, "head_dim") ?? hiddenSize / numHeads;
  if (!Number.isSafeInteger(headDim))
    invalid("hidden_size", `divisible by num_attention_heads (${numHeads})`, hiddenSize);

  const window = slidingWindow(cfg, family, layerIdx);
  const layerType = window === undefined ? "full_attention" : "sliding_attention";
  const rope = ropeFor(cfg, family, layerType);
  const scalar = cfg["query_pre_attn_scalar"];
  if (scalar !== undefined && scalar !== null && (typeof scalar !== "number" || !(scalar > 0)))
    invalid("query_pre_attn_scalar", "a number > 0", scalar);
  const softcap = cfg["attn_logit_softcapping"];
  if (softcap !== undefined && softcap !== null && (typeof softcap !== "number" || !(softcap > 0)))
    invalid("attn_logit_softcapping", "a number > 0 or null", softcap);
  const eps = cfg["rms_norm_eps"] ?? 1e-6;
  if (typeof eps !== "number" || !(eps >= 0)) invalid("rms_norm_eps", "a number ≥ 0", eps);

  const w = moduleWeights(weights, layerIdx);
  if (cfg["attention_bias"] === true && !w.qBias && !w.qkvBias) {
    throw new RopekitError(
      "INVALID_OPTION",
      "config says attention_bias: true but weights lack q_proj.bias",
      "weights",
    );
  }
  const layer: MultiHeadAttentionConfig = {
    hiddenSize,
    numHeads,
    numKvHeads,
    headDim,
    rope,
    scale: typeof scalar === "number" ? scalar ** -0.5 : headDim ** -0.5,
    causal: true,
    ...(window !== undefined ? { window } : {}),
    ...(typeof softcap === "number" ? { softcap } : {}),
    // Phi-3's qkv_proj holds all q rows, then k, then v; GPT-NeoX's query_key_value interleaves per head.
    qkvLayout: family === "phi3" ? "concatenated" : "per-head",
    normEps: eps,
    normWeightOffset: family.startsWith("gemma") ? 1 : 0,
    weights: w,
  };
  return new MultiHeadAttention(backend, layer);
}

/** The RoPE spec of a layer type: per-layer-type blocks, Gemma-3's local base, or the config's one spec. */
function ropeFor(cfg: Json, family: string, layerType: "sliding_attention" | "full_attention"): RopeSpec {
  const params = cfg["rope_parameters"];
  const perLayerType =
    params !== null && typeof params === "object" && (params as Json)[layerType] !== undefined;
  if (perLayerType) return ropeSpecFromHF(cfg, { layerType });
  if ((family === "gemma3" || family === "gemma3_text") && layerType === "sliding_attention") {
    // Gemma-3's local layers: plain RoPE on rope_local_base_freq, without the global layers' scaling.
    const local = cfg["rope_local_base_freq"] ?? 10000;
    return ropeSpecFromHF({ ...cfg, rope_theta: local, rope_scaling: null });
  }
  return ropeSpecFromHF(cfg);
}
