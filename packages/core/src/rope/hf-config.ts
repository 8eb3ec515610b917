import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import type { Pairing, RopeScaling, RopeSpec } from "../types.js";
import { ROPE_SCALING_TYPES, validateRopeSpec } from "./spec.js";

/** Options of `ropeSpecFromHF`. */
export interface HFConfigOptions {
  /**
   * Pairing override. Default: "interleaved" for GPT-J (`model_type: "gptj"`), "half" for every other
   * model, as their HF modeling code rotates.
   */
  pairing?: Pairing;
  /**
   * For configs whose `rope_parameters` holds one block per layer type (Gemma-3: `full_attention`,
   * `sliding_attention`): which block to read.
   */
  layerType?: string;
}

type Json = Record<string, unknown>;

/** HF's rope_type names: ropekit's scaling types, with "default" for none. */
const ROPE_TYPES = ["default", ...ROPE_SCALING_TYPES.filter((t) => t !== "none")] as const;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function missing(field: string, why: string): never {
  throw new RopekitError("MISSING_CONFIG_FIELD", `config field ${field} is missing: ${why}`, field);
}

function invalid(field: string, expected: string, got: unknown): never {
  throw new RopekitError(
    "INVALID_CONFIG",
    `config field ${field} must be ${expected}, got ${describeValue(got)}`,
    field,
  );
}

/** Reads a number field; `null` counts as absent (HF writes `null` for unset fields). */
function readNumber(obj: Json, key: string, path: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) invalid(path, "a finite number", v);
  return v;
}

function positiveInteger(value: number | undefined, path: string): number | undefined {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 1))
    invalid(path, "a positive integer", value);
  return value;
}

function require<T>(value: T | undefined, path: string, why: string): T {
  if (value === undefined) missing(path, why);
  return value;
}

/** A list of factors: present and an array here; its length and values are the spec's to check. */
function readFactorList(obj: Json, key: string, path: string): number[] {
  const v = obj[key];
  if (v === undefined || v === null) missing(path, "longrope needs one factor per frequency");
  if (!Array.isArray(v)) invalid(path, "an array of numbers (one per frequency)", v);
  return v as number[];
}

/** Finds the block that holds rope_type and its parameters, with the name to use for its fields. */
function ropeBlock(config: Json, layerType: string | undefined): { block: Json; name: string } {
  const params = config["rope_parameters"];
  if (params !== undefined && params !== null) {
    if (!isObject(params)) invalid("rope_parameters", "an object", params);
    const perLayer = !("rope_type" in params) && !("type" in params) && Object.values(params).some(isObject);
    if (perLayer) {
      const names = Object.keys(params).filter((k) => isObject(params[k]));
      if (layerType === undefined) {
        missing(
          "rope_parameters.<layer type>",
          `this config has one block per layer type (${names.join(", ")}); pass options.layerType`,
        );
      }
      // Own properties only: a layer type named "__proto__" or "toString" must not reach Object.prototype.
      const block = Object.hasOwn(params, layerType) ? params[layerType] : undefined;
      if (!isObject(block)) invalid(`rope_parameters.${layerType}`, `one of ${names.join(", ")}`, block);
      return { block, name: `rope_parameters.${layerType}` };
    }
    return { block: params, name: "rope_parameters" };
  }
  const scaling = config["rope_scaling"];
  if (scaling === undefined || scaling === null) return { block: {}, name: "rope_scaling" };
  if (!isObject(scaling)) invalid("rope_scaling", "an object or null", scaling);
  return { block: scaling, name: "rope_scaling" };
}

/**
 * Reads a HuggingFace `config.json` object into a RopeSpec, with the semantics of transformers'
 * `modeling_rope_utils.py`: `rope_theta`, `rope_scaling` (v4) or `rope_parameters` (v5) with `rope_type`
 * or legacy `type`, `partial_rotary_factor`, `head_dim` (else hidden_size / num_attention_heads),
 * `max_position_embeddings`, `original_max_position_embeddings`. GPT-NeoX's `rotary_pct` /
 * `rotary_emb_base` and GPT-J's `rotary_dim` are read too.
 *
 * A missing field that the rope type needs raises `MISSING_CONFIG_FIELD`; a field of the wrong type or
 * out of range raises `INVALID_CONFIG`; an unknown rope type raises `UNKNOWN_ROPE_TYPE`.
 *
 * @example
 * ```ts
 * const config = JSON.parse(await readFile("Llama-3.1-8B/config.json", "utf8"));
 * const spec = ropeSpecFromHF(config); // llama3 scaling, base 500000, headDim 128
 * const gemmaLocal = ropeSpecFromHF(gemma3Config, { layerType: "sliding_attention" });
 * ```
 */
export function ropeSpecFromHF(config: unknown, options: HFConfigOptions = {}): RopeSpec {
  if (!isObject(config)) invalid("config", "a parsed config.json object", config);
  checkOptions(options, ["pairing", "layerType"]);
  if (options.layerType !== undefined && typeof options.layerType !== "string") {
    throw new RopekitError(
      "INVALID_OPTION",
      `layerType must be a string, got ${describeValue(options.layerType)}`,
      "options.layerType",
    );
  }
  const { block, name } = ropeBlock(config, options.layerType);
  const field = (key: string) => `${name}.${key}`;

  // Head size.
  const explicitHeadDim = positiveInteger(readNumber(config, "head_dim", "head_dim"), "head_dim");
  let headDim: number;
  if (explicitHeadDim !== undefined) headDim = explicitHeadDim;
  else {
    const hiddenKey = config["hidden_size"] !== undefined ? "hidden_size" : "n_embd";
    const headsKey = config["num_attention_heads"] !== undefined ? "num_attention_heads" : "n_head";
    const hidden = require(positiveInteger(
      readNumber(config, hiddenKey, hiddenKey),
      hiddenKey,
    ), "hidden_size", "needed to derive the head size when head_dim is absent");
    const heads = require(positiveInteger(
      readNumber(config, headsKey, headsKey),
      headsKey,
    ), "num_attention_heads", "needed to derive the head size when head_dim is absent");
    if (hidden % heads !== 0) invalid(hiddenKey, `divisible by ${headsKey}=${heads}`, hidden);
    headDim = hidden / heads;
  }

  // A number from the rope block, else the top level, else its legacy top-level name (GPT-NeoX's), with
  // the path its errors should name.
  const blockOrTop = (key: string, legacy: string) => {
    const source =
      block[key] != null ? field(key) : config[key] == null && config[legacy] != null ? legacy : key;
    const value =
      readNumber(block, key, field(key)) ??
      readNumber(config, key, key) ??
      readNumber(config, legacy, legacy);
    return { value, source };
  };

  // Rotary part of the head.
  let rotaryDim: number;
  let rotarySource = "rotary_dim";
  const gptjRotaryDim = positiveInteger(readNumber(config, "rotary_dim", "rotary_dim"), "rotary_dim");
  if (gptjRotaryDim !== undefined) rotaryDim = gptjRotaryDim;
  else {
    const partial = blockOrTop("partial_rotary_factor", "rotary_pct");
    rotarySource = partial.source;
    const factor = partial.value ?? 1;
    if (factor <= 0 || factor > 1) invalid(rotarySource, "in (0, 1]", factor);
    rotaryDim = Math.trunc(headDim * factor); // HF: int(head_dim * partial_rotary_factor)
  }

  const theta = blockOrTop("rope_theta", "rotary_emb_base");
  const baseSource = theta.source;
  const base = theta.value ?? 10000; // the default of every HF config class that has the field

  // Qwen2-VL writes `type: "mrope"` with an `mrope_section`: default frequencies, rotated by three axes.
  const mrope = block["mrope_section"];
  const rawType = [block["type"], block["rope_type"]].includes("mrope")
    ? "default"
    : (block["rope_type"] ?? block["type"] ?? "default");
  if (typeof rawType !== "string" || !(ROPE_TYPES as readonly string[]).includes(rawType)) {
    throw new RopekitError(
      "UNKNOWN_ROPE_TYPE",
      `${field("rope_type")} must be one of ${ROPE_TYPES.join(", ")}; got ${describeValue(rawType)}`,
      field("rope_type"),
    );
  }
  const ropeType = rawType as (typeof ROPE_TYPES)[number];

  const maxPos = positiveInteger(
    readNumber(config, "max_position_embeddings", "max_position_embeddings"),
    "max_position_embeddings",
  );
  const originalMax = positiveInteger(
    readNumber(block, "original_max_position_embeddings", field("original_max_position_embeddings")) ??
      readNumber(config, "original_max_position_embeddings", "original_max_position_embeddings"),
    field("original_max_position_embeddings"),
  );
  const factor = readNumber(block, "factor", field("factor"));

  let scaling: RopeScaling;
  switch (ropeType) {
    case "default":
      scaling = { type: "none" };
      break;
    case "linear":
      scaling = {
        type: "linear",
        factor: require(factor, field("factor"), "linear scaling needs it"),
      };
      break;
    case "dynamic":
      scaling = {
        type: "dynamic",
        factor: require(factor, field("factor"), "dynamic NTK scaling needs it"),
        maxPositionEmbeddings: require(maxPos, "max_position_embeddings", "dynamic NTK scaling grows the base past it"),
      };
      break;
    case "yarn": {
      const original = require(originalMax ?? maxPos, field(
        "original_max_position_embeddings",
      ), "yarn needs the pretrained context (or max_position_embeddings)");
      // transformers ≥ 4.56: factor as given; derived from the context ratio only when absent.
      const yarnFactor =
        factor ?? (maxPos !== undefined && originalMax !== undefined ? maxPos / originalMax : undefined);
      const mscale = readNumber(block, "mscale", field("mscale"));
      const mscaleAllDim = readNumber(block, "mscale_all_dim", field("mscale_all_dim"));
      const attentionFactor = readNumber(block, "attention_factor", field("attention_factor"));
      const truncate = (block["truncate"] ?? true) as boolean;
      scaling = {
        type: "yarn",
        factor: require(yarnFactor, field(
          "factor",
        ), "yarn needs it (or max_position_embeddings with original_max_position_embeddings)"),
        originalMaxPositionEmbeddings: original,
        // HF reads these with `or`: 0 and null mean "use the default".
        betaFast: readNumber(block, "beta_fast", field("beta_fast")) || 32,
        betaSlow: readNumber(block, "beta_slow", field("beta_slow")) || 1,
        truncate,
        ...(mscale !== undefined ? { mscale } : {}),
        ...(mscaleAllDim !== undefined ? { mscaleAllDim } : {}),
        ...(attentionFactor !== undefined ? { attentionFactor } : {}),
      };
      break;
    }
    case "llama3": {
      const low = require(readNumber(block, "low_freq_factor", field("low_freq_factor")), field(
        "low_freq_factor",
      ), "llama3 scaling needs it");
      const high = require(readNumber(block, "high_freq_factor", field("high_freq_factor")), field(
        "high_freq_factor",
      ), "llama3 scaling needs it");
      scaling = {
        type: "llama3",
        factor: require(factor, field("factor"), "llama3 scaling needs it"),
        lowFreqFactor: low,
        highFreqFactor: high,
        originalMaxPositionEmbeddings: require(originalMax, field(
          "original_max_position_embeddings",
        ), "llama3 scaling needs the pretrained context"),
      };
      break;
    }
    case "longrope": {
      const original = require(originalMax ??
        maxPos, "original_max_position_embeddings", "longrope needs the pretrained context (or max_position_embeddings)");
      const longFactor = factor ?? (maxPos !== undefined ? maxPos / original : undefined);
      const attentionFactor = readNumber(block, "attention_factor", field("attention_factor"));
      scaling = {
        type: "longrope",
        shortFactor: readFactorList(block, "short_factor", field("short_factor")),
        longFactor: readFactorList(block, "long_factor", field("long_factor")),
        originalMaxPositionEmbeddings: original,
        factor: require(longFactor, field("factor"), "longrope needs it (or max_position_embeddings)"),
        ...(attentionFactor !== undefined ? { attentionFactor } : {}),
      };
      break;
    }
  }

  const pairing = options.pairing ?? (config["model_type"] === "gptj" ? "interleaved" : "half");
  if (mrope !== undefined && mrope !== null && !Array.isArray(mrope))
    invalid(field("mrope_section"), "an array of three integers", mrope);
  // Every range check happens once, in validateRopeSpec; errors name the config field each value came from.
  const originalPath =
    originalMax !== undefined ? field("original_max_position_embeddings") : "max_position_embeddings";
  return validateRopeSpec(
    {
      headDim,
      rotaryDim,
      base,
      pairing,
      scaling,
      ...(Array.isArray(mrope) ? { mropeSection: mrope as unknown as [number, number, number] } : {}),
    },
    {
      code: "INVALID_CONFIG",
      paths: {
        headDim: "head_dim",
        rotaryDim: rotarySource,
        base: baseSource,
        "scaling.type": field("rope_type"),
        "scaling.factor": field("factor"),
        "scaling.maxPositionEmbeddings": "max_position_embeddings",
        "scaling.originalMaxPositionEmbeddings": originalPath,
        "scaling.betaFast": field("beta_fast"),
        "scaling.betaSlow": field("beta_slow"),
        "scaling.mscale": field("mscale"),
        "scaling.mscaleAllDim": field("mscale_all_dim"),
        "scaling.attentionFactor": field("attention_factor"),
        "scaling.truncate": field("truncate"),
        "scaling.lowFreqFactor": field("low_freq_factor"),
        "scaling.highFreqFactor": field("high_freq_factor"),
        "scaling.shortFactor": field("short_factor"),
        "scaling.longFactor": field("long_factor"),
        mropeSection: field("mrope_section"),
      },
    },
  );
}
