import { describe, expect, it } from "vitest";
import { HF_CONFIGS, HF_SPECS } from "../src/cases/index.js";
import { RopekitError, ropeSpecFromHF } from "../src/index.js";

/** The real Llama-3.1-8B config.json fields that matter for RoPE. */
const llama31_8b = {
  architectures: ["LlamaForCausalLM"],
  hidden_size: 4096,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  max_position_embeddings: 131072,
  model_type: "llama",
  rope_scaling: {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
};

function codeOf(f: () => unknown): { code: string; argument: string | undefined; message: string } {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(RopekitError);
    const e = error as RopekitError;
    return { code: e.code, argument: e.argument, message: e.message };
  }
  throw new Error("expected a RopekitError");
}

describe("ropeSpecFromHF", () => {
  it("reads Llama-3.1-8B", () => {
    // The small llama31 case has the same RoPE fields at head size 16.
    expect(ropeSpecFromHF(llama31_8b)).toEqual({ ...HF_SPECS.llama31, headDim: 128, rotaryDim: 128 });
  });

  for (const name of Object.keys(HF_CONFIGS) as (keyof typeof HF_CONFIGS)[]) {
    it(`reads the ${name} case config into the hand-written spec`, () => {
      expect(ropeSpecFromHF(HF_CONFIGS[name])).toEqual(HF_SPECS[name]);
    });
  }

  it("defaults: no rope_scaling, no rope_theta → plain RoPE at 10 000", () => {
    expect(ropeSpecFromHF({ hidden_size: 32, num_attention_heads: 2 })).toEqual({
      headDim: 16,
      rotaryDim: 16,
      base: 10000,
      pairing: "half",
      scaling: { type: "none" },
    });
  });

  it("head_dim wins over hidden_size / heads (Gemma-2, Qwen3)", () => {
    expect(ropeSpecFromHF({ hidden_size: 2304, num_attention_heads: 8, head_dim: 256 }).headDim).toBe(256);
  });

  it("partial_rotary_factor gives int(head_dim · factor) rotary channels (Phi-2: 0.4 of 80 = 32)", () => {
    const s = ropeSpecFromHF({ hidden_size: 2560, num_attention_heads: 32, partial_rotary_factor: 0.4 });
    expect(s.rotaryDim).toBe(32);
  });

  it("legacy rope_scaling.type and v5 rope_parameters read the same", () => {
    const legacy = ropeSpecFromHF({
      hidden_size: 64,
      num_attention_heads: 4,
      rope_scaling: { type: "linear", factor: 2 },
    });
    const v5 = ropeSpecFromHF({
      hidden_size: 64,
      num_attention_heads: 4,
      rope_parameters: { rope_type: "linear", factor: 2, rope_theta: 10000 },
    });
    expect(legacy).toEqual(v5);
  });

  it("per-layer-type rope_parameters need options.layerType (Gemma-3)", () => {
    const config = {
      hidden_size: 64,
      num_attention_heads: 4,
      rope_parameters: {
        full_attention: { rope_type: "linear", factor: 8, rope_theta: 1000000 },
        sliding_attention: { rope_type: "default", rope_theta: 10000 },
      },
    };
    const e = codeOf(() => ropeSpecFromHF(config));
    expect(e.code).toBe("MISSING_CONFIG_FIELD");
    expect(e.message).toContain("full_attention");
    expect(ropeSpecFromHF(config, { layerType: "full_attention" }).scaling).toEqual({
      type: "linear",
      factor: 8,
    });
    expect(ropeSpecFromHF(config, { layerType: "sliding_attention" }).base).toBe(10000);
  });

  it("yarn without factor derives it from max_position_embeddings / original (DeepSeek-style)", () => {
    const s = ropeSpecFromHF({
      hidden_size: 64,
      num_attention_heads: 4,
      max_position_embeddings: 16384,
      rope_scaling: { rope_type: "yarn", original_max_position_embeddings: 4096 },
    });
    expect(s.scaling).toMatchObject({
      type: "yarn",
      factor: 4,
      originalMaxPositionEmbeddings: 4096,
      betaFast: 32,
      betaSlow: 1,
    });
  });

  it("GPT-J pairs interleaved; the option overrides the pairing", () => {
    expect(ropeSpecFromHF(HF_CONFIGS.gptj).pairing).toBe("interleaved");
    expect(ropeSpecFromHF(llama31_8b, { pairing: "interleaved" }).pairing).toBe("interleaved");
  });

  describe("errors name the field and the expectation", () => {
    const cases: [string, unknown, string, string][] = [
      ["not an object", "config.json", "INVALID_CONFIG", "config"],
      [
        "linear without factor",
        { ...llama31_8b, rope_scaling: { rope_type: "linear" } },
        "MISSING_CONFIG_FIELD",
        "rope_scaling.factor",
      ],
      [
        "llama3 without low_freq_factor",
        { ...llama31_8b, rope_scaling: { ...llama31_8b.rope_scaling, low_freq_factor: undefined } },
        "MISSING_CONFIG_FIELD",
        "rope_scaling.low_freq_factor",
      ],
      [
        "llama3 with high ≤ low",
        { ...llama31_8b, rope_scaling: { ...llama31_8b.rope_scaling, high_freq_factor: 1 } },
        "INVALID_CONFIG",
        "rope_scaling.high_freq_factor",
      ],
      [
        "unknown rope_type",
        { ...llama31_8b, rope_scaling: { rope_type: "ntk-by-parts", factor: 2 } },
        "UNKNOWN_ROPE_TYPE",
        "rope_scaling.rope_type",
      ],
      [
        "string factor",
        { ...llama31_8b, rope_scaling: { ...llama31_8b.rope_scaling, factor: "8" } },
        "INVALID_CONFIG",
        "rope_scaling.factor",
      ],
      [
        "NaN factor",
        { ...llama31_8b, rope_scaling: { ...llama31_8b.rope_scaling, factor: Number.NaN } },
        "INVALID_CONFIG",
        "rope_scaling.factor",
      ],
      [
        "factor < 1",
        { ...llama31_8b, rope_scaling: { rope_type: "linear", factor: 0.5 } },
        "INVALID_CONFIG",
        "rope_scaling.factor",
      ],
      ["NaN rope_theta", { ...llama31_8b, rope_theta: Number.NaN }, "INVALID_CONFIG", "rope_theta"],
      ["no head size at all", { rope_theta: 10000 }, "MISSING_CONFIG_FIELD", "hidden_size"],
      [
        "hidden not divisible by heads",
        { hidden_size: 100, num_attention_heads: 3 },
        "INVALID_CONFIG",
        "hidden_size",
      ],
      [
        "odd rotary dim from partial factor",
        { hidden_size: 40, num_attention_heads: 4, partial_rotary_factor: 0.3 },
        "INVALID_ROTARY_DIM",
        "partial_rotary_factor",
      ],
      [
        "dynamic without max_position_embeddings",
        { hidden_size: 64, num_attention_heads: 4, rope_scaling: { rope_type: "dynamic", factor: 2 } },
        "MISSING_CONFIG_FIELD",
        "max_position_embeddings",
      ],
      [
        "longrope with too few factors",
        {
          ...HF_CONFIGS.phi3Longrope,
          rope_scaling: { type: "longrope", short_factor: [1], long_factor: [1] },
        },
        "INVALID_CONFIG",
        "rope_scaling.short_factor",
      ],
      [
        "longrope without long_factor",
        { ...HF_CONFIGS.phi3Longrope, rope_scaling: { type: "longrope", short_factor: [1, 1, 1, 1, 1, 1] } },
        "MISSING_CONFIG_FIELD",
        "rope_scaling.long_factor",
      ],
      [
        "yarn without any context length",
        { hidden_size: 64, num_attention_heads: 4, rope_scaling: { rope_type: "yarn", factor: 4 } },
        "MISSING_CONFIG_FIELD",
        "rope_scaling.original_max_position_embeddings",
      ],
      [
        "truncate not a boolean",
        { ...HF_CONFIGS.qwenYarn, rope_scaling: { ...HF_CONFIGS.qwenYarn.rope_scaling, truncate: "yes" } },
        "INVALID_CONFIG",
        "rope_scaling.truncate",
      ],
    ];
    for (const [what, config, code, field] of cases) {
      it(`${what} → ${code} on ${field}`, () => {
        const e = codeOf(() => ropeSpecFromHF(config));
        expect(e.code).toBe(code);
        expect(e.argument).toBe(field);
        expect(e.message).toContain(field.split(".").pop() as string);
      });
    }
  });
});
