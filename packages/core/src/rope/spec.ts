import { checkElementCount } from "../allocate.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import type { Pairing, RopeScaling, RopeSpec } from "../types.js";

/** What `ropeSpec()` takes: only headDim is required. */
export interface RopeSpecInit {
  headDim: number;
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

function checkFactor(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 1)
    fail(field, "a finite number ≥ 1", value);
  return value;
}

function checkFactorList(value: unknown, length: number, field: string): void {
  if (!Array.isArray(value) || value.length !== length) {
    fail(field, `an array of ${length} numbers (rotaryDim/2)`, value);
  }
  for (const [i, f] of value.entries()) {
    if (typeof f !== "number" || !Number.isFinite(f) || f <= 0)
      fail(`${field}[${i}]`, "a finite number > 0", f);
  }
}

/** Throws a RopekitError unless the scaling block is complete and every number is in range. */
function validateScaling(scaling: RopeScaling, rotaryDim: number): void {
  switch (scaling.type) {
    case "none":
      return;
    case "linear":
      checkFactor(scaling.factor, "scaling.factor");
      return;
    case "dynamic":
      checkFactor(scaling.factor, "scaling.factor");
      checkPositiveInteger(scaling.maxPositionEmbeddings, "scaling.maxPositionEmbeddings");
      if (rotaryDim <= 2)
        fail("rotaryDim", "> 2 for dynamic NTK scaling (the exponent is r/(r−2))", rotaryDim);
      return;
    case "yarn":
      checkFactor(scaling.factor, "scaling.factor");
      checkPositiveInteger(scaling.originalMaxPositionEmbeddings, "scaling.originalMaxPositionEmbeddings");
      checkPositiveFinite(scaling.betaFast, "scaling.betaFast");
      checkPositiveFinite(scaling.betaSlow, "scaling.betaSlow");
      if (scaling.mscale !== undefined) checkPositiveFinite(scaling.mscale, "scaling.mscale");
      if (scaling.mscaleAllDim !== undefined)
        checkPositiveFinite(scaling.mscaleAllDim, "scaling.mscaleAllDim");
      if (scaling.attentionFactor !== undefined) {
        checkPositiveFinite(scaling.attentionFactor, "scaling.attentionFactor");
      }
      if (typeof scaling.truncate !== "boolean") fail("scaling.truncate", "a boolean", scaling.truncate);
      return;
    case "llama3":
      checkFactor(scaling.factor, "scaling.factor");
      checkPositiveFinite(scaling.lowFreqFactor, "scaling.lowFreqFactor");
      checkPositiveFinite(scaling.highFreqFactor, "scaling.highFreqFactor");
      checkPositiveInteger(scaling.originalMaxPositionEmbeddings, "scaling.originalMaxPositionEmbeddings");
      if (!(scaling.highFreqFactor > scaling.lowFreqFactor)) {
        fail("scaling.highFreqFactor", `> lowFreqFactor (${scaling.lowFreqFactor})`, scaling.highFreqFactor);
      }
      return;
    case "longrope":
      checkFactorList(scaling.shortFactor, rotaryDim / 2, "scaling.shortFactor");
      checkFactorList(scaling.longFactor, rotaryDim / 2, "scaling.longFactor");
      checkPositiveInteger(scaling.originalMaxPositionEmbeddings, "scaling.originalMaxPositionEmbeddings");
      checkPositiveFinite(scaling.factor, "scaling.factor");
      if (scaling.attentionFactor !== undefined) {
        checkPositiveFinite(scaling.attentionFactor, "scaling.attentionFactor");
      }
      return;
    default: {
      const type = (scaling as { type?: unknown } | null)?.type;
      throw new RopekitError(
        "UNKNOWN_ROPE_TYPE",
        `scaling.type must be one of none, linear, dynamic, yarn, llama3, longrope; got ${describeValue(type)}`,
        "scaling.type",
      );
    }
  }
}

/** Throws a RopekitError naming the first bad field of `spec`; returns the spec unchanged otherwise. */
export function validateRopeSpec(spec: RopeSpec): RopeSpec {
  if (spec === null || typeof spec !== "object") fail("spec", "a RopeSpec object", spec);
  const headDim = checkPositiveInteger(spec.headDim, "headDim");
  checkElementCount(headDim, "headDim");
  const rotaryDim = spec.rotaryDim;
  if (!Number.isSafeInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    throw new RopekitError(
      "INVALID_ROTARY_DIM",
      `rotaryDim must be an even integer in [2, headDim=${headDim}], got ${describeValue(rotaryDim)}`,
      "rotaryDim",
    );
  }
  if (typeof spec.base !== "number" || !Number.isFinite(spec.base) || spec.base <= 1) {
    fail("base", "a finite number > 1", spec.base);
  }
  if (spec.pairing !== "half" && spec.pairing !== "interleaved") {
    fail("pairing", '"half" or "interleaved"', spec.pairing);
  }
  if (spec.scaling === null || typeof spec.scaling !== "object")
    fail("scaling", "a scaling object", spec.scaling);
  validateScaling(spec.scaling, rotaryDim);
  return spec;
}

/** Builds and validates a RopeSpec; unset fields take the LLaMA defaults (base 10 000, half pairing, full rotary). */
export function ropeSpec(init: RopeSpecInit): RopeSpec {
  if (init === null || typeof init !== "object") fail("init", "an object with at least headDim", init);
  checkOptions(init, ["headDim", "rotaryDim", "base", "pairing", "scaling"], "init");
  const spec: RopeSpec = {
    headDim: init.headDim,
    rotaryDim: init.rotaryDim ?? init.headDim,
    base: init.base ?? 10000,
    pairing: init.pairing ?? "half",
    scaling: init.scaling ?? { type: "none" },
  };
  return validateRopeSpec(spec);
}
