// Multimodal RoPE (Qwen2-VL mrope_section): checked against ordinary RoPE run once per position axis.
import { describe, expect, it } from "vitest";
import {
  type HeadsTensor,
  applyRopeReference,
  createReferenceBackend,
  maxRelativeError,
  mropePositionIds,
  ropeSpec,
  ropeSpecFromHF,
} from "../src/index.js";
import { seededValues } from "../src/cases/index.js";

const section = [2, 3, 3] as [number, number, number]; // 8 pairs of a 16-channel head
const spec = ropeSpec({ headDim: 16, base: 10000, mropeSection: section });
const plain = ropeSpec({ headDim: 16, base: 10000 });
const seq = 9;
const x: HeadsTensor = {
  data: Float64Array.from(seededValues("mrope", 2 * seq * 3 * 16)),
  shape: [2, seq, 3, 16],
  layout: "bshd",
};
const ids = mropePositionIds([{ text: 3 }, { image: { t: 1, h: 2, w: 2 } }, { text: 2 }]);

describe("multimodal RoPE", () => {
  it("mropePositionIds follows HF's get_rope_index for text, an image grid, text", () => {
    expect(ids.map((a) => Array.from(a))).toEqual([
      [0, 1, 2, 3, 3, 3, 3, 5, 6],
      [0, 1, 2, 3, 3, 4, 4, 5, 6],
      [0, 1, 2, 3, 4, 3, 4, 5, 6],
    ]);
  });

  it("each section of pairs turns by its own axis (compared with ordinary RoPE per axis)", () => {
    const out = applyRopeReference(x, spec, { positions: ids }).data;
    const perAxis = ids.map((axis) => applyRopeReference(x, plain, { positions: axis }).data);
    const half = 8;
    const expected = new Float64Array(out.length);
    for (let t = 0; t < out.length / 16; t++) {
      for (let i = 0; i < half; i++) {
        const axis = i < section[0] ? 0 : i < section[0] + section[1] ? 1 : 2;
        const src = perAxis[axis] as ArrayLike<number>;
        expected[t * 16 + i] = src[t * 16 + i] as number;
        expected[t * 16 + i + half] = src[t * 16 + i + half] as number;
      }
    }
    expect(maxRelativeError(out, expected)).toBeLessThan(1e-15);
  });

  it("three equal rows are ordinary RoPE, and the backend path (per-token table) agrees", async () => {
    const same = [ids[0], ids[0], ids[0]] as const;
    expect(
      maxRelativeError(
        applyRopeReference(x, spec, { positions: same }).data,
        applyRopeReference(x, plain, { positions: ids[0] }).data,
      ),
    ).toBeLessThan(1e-15);
    const backend = createReferenceBackend();
    const viaBackend = await backend.applyRope(x, spec, { positions: ids });
    expect(
      maxRelativeError(viaBackend.data, applyRopeReference(x, spec, { positions: ids }).data),
    ).toBeLessThan(1e-15);
  });

  it("ropeSpecFromHF reads Qwen2-VL's mrope rope_scaling", () => {
    const s = ropeSpecFromHF({
      model_type: "qwen2_vl",
      hidden_size: 1536,
      num_attention_heads: 12,
      rope_theta: 1000000,
      rope_scaling: { type: "mrope", mrope_section: [16, 24, 24] },
    });
    expect(s.mropeSection).toEqual([16, 24, 24]);
    expect(s.scaling.type).toBe("none");
    expect(s.base).toBe(1000000);
  });

  it("errors: three rows without mropeSection; sections that do not sum to rotaryDim/2", async () => {
    const backend = createReferenceBackend();
    await expect(backend.applyRope(x, plain, { positions: ids })).rejects.toMatchObject({
      code: "INVALID_POSITIONS",
    });
    expect(() =>
      ropeSpecFromHF({
        hidden_size: 64,
        num_attention_heads: 4,
        rope_scaling: { type: "mrope", mrope_section: [2, 2, 2] },
      }),
    ).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", argument: "rope_scaling.mrope_section" }));
  });
});
