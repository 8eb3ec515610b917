import { checkElementCount } from "../allocate.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import type { Pairing, RopeScaling, RopeSpec } from "../types.js";

/** What `ropeSpec()` takes: only headDim is required. */
export interface RopeSpecInit {
  headDim: number;
  /** Multimodal RoPE sections (Qwen2-VL), see `RopeSpec.mropeSection`. */
  mropeSection?: readonly [number, number, number];
  /** Default headDim. */
  rotaryDim?: number;
  /** rope_theta, default 10 000. */
  base?: number;
  /** Default "half" (HF LLaMA). */
  pairing?: Pairing;
  /** Default none. */
  scaling?: RopeScaling;
}

function fail(field: string, expected: string, got: unknown): never {
  throw new RopekitError("INVALID_OPTION", `${field} must be ${expected}, got ${describeValue(got)}`, field);
}

export function checkPositiveInteger(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) fail(field, "a positive integer", value);
  return value as number;
}

export function checkPositiveFinite(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    fail(field, "a finite number > 0", value);
  }
  return value;
}

/** Every kind of frequency scaling: the one list ropekit keeps. */
export const ROPE_SCALING_TYPES = ["none", "linear", "dynamic", "yarn", "llama3", "longrope"] as const;

/**
 * Where a spec came from, so errors name what the user wrote: for a spec read from a HuggingFace config,
 * the config path of each spec field (`base` → `rope_theta`, `scaling.betaFast` →
 * `rope_scaling.beta_fast`) and the code INVALID_CONFIG.
 */
export interface SpecSource {
  readonly code: "INVALID_OPTION" | "INVALID_CONFIG";
  /** Config path of a spec field; fields not listed keep their own name. */
  readonly paths: Readonly<Record<string, string>>;
}

const FROM_CODE: SpecSource = { code: "INVALID_OPTION", paths: {} };

/** The range checks of a spec, raising errors that name fields as `source` says. */
function checks(source: SpecSource) {
  const name = (field: string) => source.paths[field] ?? field;
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new RopekitError(
      source.code,
      `${name(field)} must be ${expected}, got ${describeValue(got)}`,
      name(field),
    );
  };
  return {
    name,
    bad,
    positiveInteger(value: unknown, field: string): void {
      if (!Number.isSafeInteger(value) || (value as number) < 1) bad(field, "a positive integer", value);
    },
    positiveFinite(value: unknown, field: string): void {
      if (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
        bad(field, "a finite number > 0", value);
    },
    factor(value: unknown, field: string): void {
      if (typeof value !== "number" || !Number.isFinite(value) || value < 1)
        bad(field, "a finite number ≥ 1", value);
    },
    factorList(value: unknown, length: number, field: string): void {
      if (!Array.isArray(value) || value.length !== length)
        bad(field, `an array of ${length} numbers (rotaryDim/2)`, value);
      for (const [i, f] of (value as unknown[]).entries()) {
        if (typeof f !== "number" || !Number.isFinite(f) || f <= 0)
          bad(`${name(field)}[${i}]`, "a finite number > 0", f);
      }
    },
  };
}

type Checks = ReturnType<typeof checks>;

/** Throws a RopekitError unless the scaling block is complete and every number is in range. */
function validateScaling(scaling: RopeScaling, rotaryDim: number, c: Checks): void {
  switch (scaling.type) {
    case "none":
      return;
    case "linear":
      c.factor(scaling.factor, "scaling.factor");
      return;
    case "dynamic":
      c.factor(scaling.factor, "scaling.factor");
      c.positiveInteger(scaling.maxPositionEmbeddings, "scaling.maxPositionEmbeddings");
      if (rotaryDim <= 2)
        c.bad("rotaryDim", "> 2 for dynamic NTK scaling (the exponent is r/(r−2))", rotaryDim);
      return;
    case "yarn":
      c.factor(scaling.factor, "scaling.factor");
      c.positiveInteger(scaling.originalMaxPositionEmbeddings, "scaling.originalMaxPositionEmbeddings");
      for (const key of ["betaFast", "betaSlow"] as const) c.positiveFinite(scaling[key], `scaling.${key}`);
      // Optional: DeepSeek's mscales, an explicit attention factor.
      for (const key of ["mscale", "mscaleAllDim", "attentionFactor"] as const)
        if (scaling[key] !== undefined) c.positiveFinite(scaling[key], `scaling.${key}`);
      if (typeof scaling.truncate !== "boolean") c.bad("scaling.truncate", "a boolean", scaling.truncate);
      return;
    case "llama3":
      c.factor(scaling.factor, "scaling.factor");
      c.positiveFinite(scaling.lowFreqFactor, "scaling.lowFreqFactor");
      c.positiveFinite(scaling.highFreqFactor, "scaling.highFreqFactor");
      c.positiveInteger(scaling.originalMaxPositionEmbeddings, "scaling.originalMaxPositionEmbeddings");
      if (!(scaling.highFreqFactor > scaling.lowFreqFactor)) {
        c.bad("scaling.highFreqFactor", `> lowFreqFactor (${scaling.lowFreqFactor})`, scaling.highFreqFactor);
      }
      return;
    case "longrope":
      c.factorList(scaling.shortFactor, rotaryDim / 2, "scaling.shortFactor");
      c.factorList(scaling.longFactor, rotaryDim / 2, "scaling.longFactor");
      c.positiveInteger(scaling.originalMaxPositionEmbeddings, "scaling.originalMaxPositionEmbeddings");
      c.positiveFinite(scaling.factor, "scaling.factor");
      if (scaling.attentionFactor !== undefined)
        c.positiveFinite(scaling.attentionFactor, "scaling.attentionFactor");
      return;
    default: {
      const type = (scaling as { type?: unknown } | null)?.type;
      throw new RopekitError(
        "UNKNOWN_ROPE_TYPE",
        `${c.name("scaling.type")} must be one of ${ROPE_SCALING_TYPES.join(", ")}; got ${describeValue(type)}`,
        c.name("scaling.type"),
      );
    }
  }
}

/**
 * Throws a RopekitError naming the first bad field of `spec`; returns the spec unchanged otherwise. This
 * is the one place spec ranges are checked: `ropeSpecFromHF` reads and maps a config, then passes its
 * `source` so that an error names the config field the value came from.
 */
export function validateRopeSpec(spec: RopeSpec, source: SpecSource = FROM_CODE): RopeSpec {
  const c = checks(source);
  if (spec === null || typeof spec !== "object") c.bad("spec", "a RopeSpec object", spec);
  c.positiveInteger(spec.headDim, "headDim");
  const headDim = spec.headDim;
  checkElementCount(headDim, c.name("headDim"));
  const rotaryDim = spec.rotaryDim;
  if (!Number.isSafeInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    const name = c.name("rotaryDim");
    const expected = `an even integer in [2, headDim=${headDim}]`;
    throw new RopekitError(
      "INVALID_ROTARY_DIM",
      name === "rotaryDim"
        ? `rotaryDim must be ${expected}, got ${describeValue(rotaryDim)}`
        : `${name} gives ${describeValue(rotaryDim)} rotary channels for head size ${headDim}; rotaryDim must be ${expected}`,
      name,
    );
  }
  if (typeof spec.base !== "number" || !Number.isFinite(spec.base) || spec.base <= 1) {
    c.bad("base", "a finite number > 1", spec.base);
  }
  if (spec.pairing !== "half" && spec.pairing !== "interleaved") {
    c.bad("pairing", '"half" or "interleaved"', spec.pairing);
  }
  if (spec.scaling === null || typeof spec.scaling !== "object")
    c.bad("scaling", "a scaling object", spec.scaling);
  validateScaling(spec.scaling, rotaryDim, c);
  if (spec.mropeSection !== undefined) {
    const m = spec.mropeSection;
    const ok = Array.isArray(m) && m.length === 3 && m.every((n) => Number.isSafeInteger(n) && n >= 0);
    if (!ok || m[0] + m[1] + m[2] !== rotaryDim / 2) {
      c.bad(
        "mropeSection",
        `three pair counts (temporal, height, width) summing to rotaryDim/2 = ${rotaryDim / 2}`,
        m,
      );
    }
    if (spec.scaling.type !== "none") {
      c.bad(
        "mropeSection",
        "used with unscaled frequencies (scaling none), as Qwen2-VL does",
        spec.scaling.type,
      );
    }
  }
  return spec;
}

/** Builds and validates a RopeSpec; unset fields take the LLaMA defaults (base 10 000, half pairing, full rotary). */
export function ropeSpec(init: RopeSpecInit): RopeSpec {
  if (init === null || typeof init !== "object") fail("init", "an object with at least headDim", init);
  checkOptions(init, ["headDim", "rotaryDim", "base", "pairing", "scaling", "mropeSection"], "init");
  const spec: RopeSpec = {
    headDim: init.headDim,
    rotaryDim: init.rotaryDim ?? init.headDim,
    base: init.base ?? 10000,
    pairing: init.pairing ?? "half",
    scaling: init.scaling ?? { type: "none" },
    ...(init.mropeSection !== undefined ? { mropeSection: init.mropeSection } : {}),
  };
  return validateRopeSpec(spec);
}
