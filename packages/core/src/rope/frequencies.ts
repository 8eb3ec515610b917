import type { RopeFrequencies, RopeSpec } from "../types.js";
import { checkOptions } from "../options.js";
import { checkPositiveInteger, validateRopeSpec } from "./spec.js";

/** Options of `ropeFrequencies`. */
export interface FrequencyOptions {
  /**
   * The sequence length of the call (HF: max position id + 1). Only dynamic NTK and LongRoPE depend on it;
   * when absent, dynamic uses maxPositionEmbeddings (no growth) and LongRoPE its short factors.
   */
  seqLen?: number;
}

/** base^(-2i/r) for i < r/2: the unscaled inverse frequencies. */
function defaultInvFreq(base: number, rotaryDim: number): Float64Array {
  const half = rotaryDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = base ** (-(2 * i) / rotaryDim);
  return out;
}

/** YaRN's magnitude correction: 0.1·m·ln(s) + 1 for s > 1. */
function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

/** The (fractional) dimension index whose wavelength completes `rotations` turns over `context` tokens. */
function yarnCorrectionDim(rotations: number, rotaryDim: number, base: number, context: number): number {
  return (rotaryDim * Math.log(context / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
}

/**
 * The sequence length that actually changes the frequencies, as a cache key: "" when the spec ignores it.
 * Two calls with the same key get identical frequencies.
 */
export function frequencyKey(spec: RopeSpec, seqLen: number | undefined): string {
  const s = spec.scaling;
  if (s.type === "dynamic")
    return `dynamic:${Math.max(seqLen ?? s.maxPositionEmbeddings, s.maxPositionEmbeddings)}`;
  if (s.type === "longrope")
    return seqLen !== undefined && seqLen > s.originalMaxPositionEmbeddings ? "long" : "short";
  return "";
}

/**
 * Inverse frequencies (f64) and attention scale of a spec, as HF transformers computes them
 * (`modeling_rope_utils.py`), but in f64 throughout.
 */
export function ropeFrequencies(spec: RopeSpec, options: FrequencyOptions = {}): RopeFrequencies {
  validateRopeSpec(spec);
  checkOptions(options, ["seqLen"]);
  const seqLen = options.seqLen === undefined ? undefined : checkPositiveInteger(options.seqLen, "seqLen");
  const r = spec.rotaryDim;
  const half = r / 2;
  const s = spec.scaling;

  switch (s.type) {
    case "none":
      return { invFreq: defaultInvFreq(spec.base, r), attentionScale: 1 };

    case "linear": {
      // Position interpolation: dividing the frequencies equals dividing the positions.
      const invFreq = defaultInvFreq(spec.base, r);
      for (let i = 0; i < half; i++) invFreq[i] = (invFreq[i] as number) / s.factor;
      return { invFreq, attentionScale: 1 };
    }

    case "dynamic": {
      // NTK-aware: the base grows once the sequence outgrows the trained context.
      const len = Math.max(seqLen ?? s.maxPositionEmbeddings, s.maxPositionEmbeddings);
      const grown =
        spec.base * ((s.factor * len) / s.maxPositionEmbeddings - (s.factor - 1)) ** (r / (r - 2));
      return { invFreq: defaultInvFreq(grown, r), attentionScale: 1 };
    }

    case "yarn": {
      const extrapolated = defaultInvFreq(spec.base, r);
      let low = yarnCorrectionDim(s.betaFast, r, spec.base, s.originalMaxPositionEmbeddings);
      let high = yarnCorrectionDim(s.betaSlow, r, spec.base, s.originalMaxPositionEmbeddings);
      if (s.truncate) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      low = Math.max(low, 0);
      high = Math.min(high, r - 1);
      if (low === high) high += 0.001; // as HF: avoid a zero-width ramp
      const invFreq = new Float64Array(half);
      for (let i = 0; i < half; i++) {
        const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
        const extrapolationWeight = 1 - ramp; // 1 for high frequencies (kept), 0 for low ones (interpolated)
        const e = extrapolated[i] as number;
        invFreq[i] = (e / s.factor) * (1 - extrapolationWeight) + e * extrapolationWeight;
      }
      let attentionScale: number;
      if (s.attentionFactor !== undefined) attentionScale = s.attentionFactor;
      else if (s.mscale !== undefined && s.mscaleAllDim !== undefined) {
        attentionScale = yarnMscale(s.factor, s.mscale) / yarnMscale(s.factor, s.mscaleAllDim);
      } else attentionScale = yarnMscale(s.factor);
      return { invFreq, attentionScale };
    }

    case "llama3": {
      const invFreq = defaultInvFreq(spec.base, r);
      const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
      const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
      for (let i = 0; i < half; i++) {
        const f = invFreq[i] as number;
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highFreqWavelen) continue; // high frequency: unchanged
        if (wavelen > lowFreqWavelen) {
          invFreq[i] = f / s.factor; // low frequency: interpolated
          continue;
        }
        const smooth =
          (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
          (s.highFreqFactor - s.lowFreqFactor);
        invFreq[i] = (1 - smooth) * (f / s.factor) + smooth * f;
      }
      return { invFreq, attentionScale: 1 };
    }

    case "longrope": {
      const factors =
        seqLen !== undefined && seqLen > s.originalMaxPositionEmbeddings ? s.longFactor : s.shortFactor;
      const invFreq = defaultInvFreq(spec.base, r);
      for (let i = 0; i < half; i++) invFreq[i] = (invFreq[i] as number) / (factors[i] as number);
      const attentionScale =
        s.attentionFactor ??
        (s.factor <= 1 ? 1 : Math.sqrt(1 + Math.log(s.factor) / Math.log(s.originalMaxPositionEmbeddings)));
      return { invFreq, attentionScale };
    }
  }
}
