// The reference checked against facts that do not come from our own code: closed forms from the
// papers / HF formulas worked by hand, and boundary behaviour of each scaling kind.
import { describe, expect, it } from "vitest";
import { HF_SPECS } from "../src/cases/index.js";
import type { RopeScaling } from "../src/index.js";
import { ropeFrequencies, ropeSpec } from "../src/index.js";

describe("default frequencies", () => {
  it("invFreq[i] = base^(−2i/r)", () => {
    const { invFreq, attentionScale } = ropeFrequencies(ropeSpec({ headDim: 4 }));
    expect(Array.from(invFreq)).toEqual([1, 0.01]); // 10000^0, 10000^(−2/4)
    expect(attentionScale).toBe(1);
  });

  it("partial rotary uses rotaryDim, not headDim, in the exponent", () => {
    const { invFreq } = ropeFrequencies(ropeSpec({ headDim: 64, rotaryDim: 16, base: 10000 }));
    expect(invFreq.length).toBe(8);
    expect(invFreq[4]).toBeCloseTo(10000 ** -0.5, 15); // i = 4: 2·4/16 = 0.5
  });
});

describe("linear", () => {
  it("divides every frequency by the factor", () => {
    const plain = ropeFrequencies(ropeSpec({ headDim: 8 })).invFreq;
    const scaled = ropeFrequencies(ropeSpec({ headDim: 8, scaling: { type: "linear", factor: 4 } })).invFreq;
    for (let i = 0; i < 4; i++) expect(scaled[i]).toBeCloseTo((plain[i] as number) / 4, 15);
  });
});

describe("dynamic NTK", () => {
  const spec = ropeSpec({ headDim: 8, scaling: { type: "dynamic", factor: 2, maxPositionEmbeddings: 1024 } });
  it("leaves the base alone up to maxPositionEmbeddings", () => {
    const plain = ropeFrequencies(ropeSpec({ headDim: 8 })).invFreq;
    expect(ropeFrequencies(spec, { seqLen: 1024 }).invFreq).toEqual(plain);
    expect(ropeFrequencies(spec, { seqLen: 10 }).invFreq).toEqual(plain);
  });
  it("grows the base to base·(2·2 − 1)^(r/(r−2)) at twice the context with factor 2", () => {
    const grown = 10000 * 3 ** (8 / 6);
    const { invFreq } = ropeFrequencies(spec, { seqLen: 2048 });
    expect(invFreq[1]).toBeCloseTo(grown ** (-2 / 8), 14);
    expect(invFreq[3]).toBeCloseTo(grown ** (-6 / 8), 16);
  });
});

describe("yarn", () => {
  // factor 4, original 4096, head_dim 128, base 10000.
  const spec = ropeSpec({
    headDim: 128,
    // Qwen's YaRN (factor 4, beta 32/1, truncate) over an original context of 4096.
    scaling: {
      ...(HF_SPECS.qwenYarn.scaling as Extract<RopeScaling, { type: "yarn" }>),
      originalMaxPositionEmbeddings: 4096,
    },
  });
  const plain = ropeFrequencies(ropeSpec({ headDim: 128 })).invFreq;
  const { invFreq, attentionScale } = ropeFrequencies(spec);

  it("attentionScale is 1 + 0.1·ln 4", () => {
    expect(attentionScale).toBeCloseTo(1 + 0.1 * Math.log(4), 15);
  });

  it("keeps the high frequencies, interpolates the low ones, ramps linearly in between", () => {
    // By hand: low = floor(128·ln(4096/(32·2π)) / (2·ln 10000)) = floor(20.94) = 20,
    //          high = ceil(128·ln(4096/(1·2π)) / (2·ln 10000)) = ceil(45.03) = 46.
    for (const i of [0, 10, 20]) expect(invFreq[i]).toBe(plain[i]);
    for (const i of [46, 50, 63]) expect(invFreq[i]).toBeCloseTo((plain[i] as number) / 4, 18);
    // i = 33: ramp = (33 − 20)/26 = 0.5 → half interpolated: (1/4)·0.5 + 1·0.5 = 0.625.
    expect((invFreq[33] as number) / (plain[33] as number)).toBeCloseTo(0.625, 12);
  });

  it("with mscale and mscale_all_dim the scale is their get_mscale ratio (DeepSeek)", () => {
    const ds = ropeSpec({
      headDim: 64,
      // DeepSeek-V3's: factor 40, original 4096, mscale 1, mscale_all_dim 0.707.
      scaling: HF_SPECS.deepseekYarn.scaling,
    });
    // (0.1·1·ln 40 + 1) / (0.1·0.707·ln 40 + 1), ln 40 = 3.6888794541139363
    expect(ropeFrequencies(ds).attentionScale).toBeCloseTo(1.3688879454113936 / 1.2608037774058554, 14);
    // equal mscales cancel: the scale is exactly 1
    const same = ropeSpec({
      ...ds,
      scaling: { ...(ds.scaling as object), mscale: 0.5, mscaleAllDim: 0.5 } as typeof ds.scaling,
    });
    expect(ropeFrequencies(same).attentionScale).toBe(1);
  });

  it("an explicit attention factor wins", () => {
    const s = ropeSpec({
      ...spec,
      scaling: { ...(spec.scaling as object), attentionFactor: 1.5 } as typeof spec.scaling,
    });
    expect(ropeFrequencies(s).attentionScale).toBe(1.5);
  });
});

describe("llama3", () => {
  // Llama 3.1: base 500000, head_dim 128, factor 8, low 1, high 4, original 8192.
  const spec = ropeSpec({
    headDim: 128,
    base: 500000,
    scaling: HF_SPECS.llama31.scaling,
  });
  const plain = ropeFrequencies(ropeSpec({ headDim: 128, base: 500000 })).invFreq;
  const { invFreq } = ropeFrequencies(spec);

  it("leaves high-frequency bands (wavelength < 8192/4) unchanged and divides low ones (> 8192) by 8", () => {
    let high = 0;
    let low = 0;
    for (let i = 0; i < 64; i++) {
      const wavelen = (2 * Math.PI) / (plain[i] as number);
      if (wavelen < 2048) {
        expect(invFreq[i]).toBe(plain[i]);
        high++;
      } else if (wavelen > 8192) {
        expect(invFreq[i]).toBeCloseTo((plain[i] as number) / 8, 20);
        low++;
      }
    }
    expect(high).toBeGreaterThan(20);
    expect(low).toBeGreaterThan(20);
  });

  it("interpolates smoothly in the medium band", () => {
    for (let i = 0; i < 64; i++) {
      const p = plain[i] as number;
      const wavelen = (2 * Math.PI) / p;
      if (wavelen < 2048 || wavelen > 8192) continue;
      const ratio = (invFreq[i] as number) / p;
      // smooth = (8192/wavelen − 1)/3 goes 1 → 0 as the wavelength goes 2048 → 8192
      const smooth = (8192 / wavelen - 1) / 3;
      expect(ratio).toBeCloseTo((1 - smooth) / 8 + smooth, 12);
      expect(ratio).toBeGreaterThanOrEqual(1 / 8);
      expect(ratio).toBeLessThanOrEqual(1);
    }
  });
});

describe("longrope", () => {
  const spec = ropeSpec({
    headDim: 4,
    scaling: {
      type: "longrope",
      shortFactor: [1, 2],
      longFactor: [3, 4],
      originalMaxPositionEmbeddings: 4096,
      factor: 32,
    },
  });
  it("uses short factors up to the original context and long ones past it", () => {
    expect(Array.from(ropeFrequencies(spec, { seqLen: 4096 }).invFreq)).toEqual([1, 0.01 / 2]);
    expect(Array.from(ropeFrequencies(spec, { seqLen: 4097 }).invFreq)).toEqual([1 / 3, 0.01 / 4]);
  });
  it("attention factor is sqrt(1 + ln 32 / ln 4096) = sqrt(17/12)", () => {
    expect(ropeFrequencies(spec).attentionScale).toBeCloseTo(Math.sqrt(17 / 12), 15);
  });
});
