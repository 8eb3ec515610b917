// MultiHeadAttention and attentionFromHF beyond the basic layer: properties that need no stored answer
// (padding does not change a sequence's result, a sliding cache equals the full prefill, f64 stays f64).
// Parity with transformers itself is in hf-parity.test.ts.
import { describe, expect, it } from "vitest";
import {
  KVCache,
  type Tensor,
  attentionFromHF,
  createReferenceBackend,
  maxRelativeError,
} from "../src/index.js";
import { seededValues } from "../src/cases/index.js";

const backend = createReferenceBackend();
const t = (name: string, shape: number[], scale = 0.25): Tensor => ({
  data: Float64Array.from(
    seededValues(
      name,
      shape.reduce((a, b) => a * b, 1),
    ),
    (v) => v * scale,
  ),
  shape,
});

const hidden = 32;
const qwen3 = {
  model_type: "qwen3",
  hidden_size: hidden,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  num_hidden_layers: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  max_position_embeddings: 256,
};
const qwen3Weights = {
  "model.layers.1.self_attn.q_proj.weight": t("q", [32, hidden]),
  "model.layers.1.self_attn.k_proj.weight": t("k", [16, hidden]),
  "model.layers.1.self_attn.v_proj.weight": t("v", [16, hidden]),
  "model.layers.1.self_attn.o_proj.weight": t("o", [hidden, 32]),
  "model.layers.1.self_attn.q_norm.weight": t("qn", [8], 1),
  "model.layers.1.self_attn.k_norm.weight": t("kn", [8], 1),
  "model.layers.1.mlp.down_proj.weight": t("mlp", [hidden, 64]), // ignored: not attention
  "model.layers.0.self_attn.q_proj.weight": t("other layer", [32, hidden]), // ignored: another layer
};
const x = (name: string, batch: number, seq: number) => ({
  data: Float64Array.from(seededValues(name, batch * seq * hidden)),
  shape: [batch, seq, hidden] as [number, number, number],
});
const rows = (y: { data: ArrayLike<number> }, from: number, to: number) =>
  Array.from(y.data).slice(from * hidden, to * hidden);

describe("attentionFromHF and the layer", () => {
  it("left padding with HF's 2-D mask gives each row what it gives unpadded (positions from the mask)", async () => {
    const layer = attentionFromHF(backend, qwen3, qwen3Weights, { layerIdx: 1 });
    const seq = 6;
    const a = x("a", 1, seq);
    const b = x("b", 1, seq - 2);
    // Batch: row 0 = a, row 1 = two pads then b.
    const batched = new Float64Array(2 * seq * hidden);
    batched.set(a.data, 0);
    batched.set(b.data, (seq + 2) * hidden);
    const mask = [Array(seq).fill(1), [0, 0, ...Array(seq - 2).fill(1)]];
    const y = await layer.forward({ data: batched, shape: [2, seq, hidden] }, { attentionMask: mask });
    const ya = await layer.forward(a);
    const yb = await layer.forward(b);
    expect(maxRelativeError(rows(y, 0, seq), Array.from(ya.data))).toBeLessThan(1e-12);
    expect(maxRelativeError(rows(y, seq + 2, 2 * seq), Array.from(yb.data))).toBeLessThan(1e-12);
  });

  it("decoding through the cache with a growing 2-D mask equals the padded prefill", async () => {
    const layer = attentionFromHF(backend, qwen3, qwen3Weights, { layerIdx: 1 });
    const seq = 7;
    const input = x("decode", 2, seq);
    const mask = [Array(seq).fill(1), [0, 0, 0, ...Array(seq - 3).fill(1)]];
    const full = await layer.forward(input, { attentionMask: mask });
    const cache = layer.createCache(2);
    const prompt = 4;
    const slice = (from: number, to: number) => {
      const data = new Float64Array(2 * (to - from) * hidden);
      for (let bi = 0; bi < 2; bi++)
        data.set(
          input.data.subarray((bi * seq + from) * hidden, (bi * seq + to) * hidden),
          bi * (to - from) * hidden,
        );
      return { data, shape: [2, to - from, hidden] as [number, number, number] };
    };
    const upTo = (n: number) => mask.map((r) => r.slice(0, n));
    await layer.forward(slice(0, prompt), { cache, attentionMask: upTo(prompt) });
    for (let s = prompt; s < seq; s++) {
      const step = await layer.forward(slice(s, s + 1), { cache, attentionMask: upTo(s + 1) });
      for (let bi = 0; bi < 2; bi++) {
        const want = Array.from(full.data).slice((bi * seq + s) * hidden, (bi * seq + s + 1) * hidden);
        expect(
          maxRelativeError(Array.from(step.data).slice(bi * hidden, (bi + 1) * hidden), want),
        ).toBeLessThan(1e-12);
      }
    }
  });

  it("a sliding-window layer's cache keeps W − 1 positions and decodes like the full prefill", async () => {
    const mistral = { ...qwen3, model_type: "mistral", sliding_window: 3 };
    const weights = Object.fromEntries(Object.entries(qwen3Weights).filter(([n]) => !n.includes("norm")));
    const layer = attentionFromHF(backend, mistral, weights, { layerIdx: 1 });
    const seq = 9;
    const input = x("sliding", 1, seq);
    const full = await layer.forward(input);
    const cache = layer.createCache(1);
    expect(cache.window).toBe(3);
    await layer.forward({ data: input.data.slice(0, 2 * hidden), shape: [1, 2, hidden] }, { cache });
    for (let s = 2; s < seq; s++) {
      const step = await layer.forward(
        { data: input.data.slice(s * hidden, (s + 1) * hidden), shape: [1, 1, hidden] },
        { cache },
      );
      expect(cache.length).toBeLessThanOrEqual(2);
      expect(cache.position).toBe(s + 1);
      expect(maxRelativeError(Array.from(step.data), rows(full, s, s + 1))).toBeLessThan(1e-12);
    }
  });

  it("the reference backend's cache stores f64", () => {
    const layer = attentionFromHF(backend, qwen3, qwen3Weights, { layerIdx: 1 });
    expect(layer.createCache(1).keys.data).toBeInstanceOf(Float64Array);
    expect(new KVCache({ batch: 1, kvHeads: 1, headDim: 4 }).keys.data).toBeInstanceOf(Float32Array);
  });

  it("sinks: the layer's output equals the layer without sinks scaled by 1/(1 + e^(sink − lse)) per head", async () => {
    const gptOss = { ...qwen3, model_type: "gpt_oss" };
    const base = Object.fromEntries(Object.entries(qwen3Weights).filter(([n]) => !n.includes("norm")));
    // A sink of −∞ is no sink at all: the same as no sinks (checked), a large one drives the output to 0.
    const none = attentionFromHF(backend, gptOss, base, { layerIdx: 1 });
    const off = attentionFromHF(
      backend,
      gptOss,
      {
        ...base,
        "model.layers.1.self_attn.sinks": {
          data: Float64Array.from([-1e300, -1e300, -1e300, -1e300]),
          shape: [4],
        },
      },
      { layerIdx: 1 },
    );
    const huge = attentionFromHF(
      backend,
      gptOss,
      {
        ...base,
        "model.layers.1.self_attn.sinks": { data: Float64Array.from([800, 800, 800, 800]), shape: [4] },
      },
      { layerIdx: 1 },
    );
    const input = x("sinks", 1, 5);
    const y0 = await none.forward(input);
    expect(maxRelativeError(Array.from((await off.forward(input)).data), Array.from(y0.data))).toBeLessThan(
      1e-12,
    );
    expect(Math.max(...Array.from((await huge.forward(input)).data, Math.abs))).toBeLessThan(1e-300);
  });

  it("raises NOT_IMPLEMENTED naming a field it cannot honour, and checks its inputs", () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return [(e as { code: string }).code, (e as { argument: string }).argument];
      }
      return ["no error"];
    };
    expect(
      code(() => attentionFromHF(backend, { ...qwen3, model_type: "falcon" }, qwen3Weights, { layerIdx: 0 })),
    ).toEqual(["NOT_IMPLEMENTED", "model_type"]);
    expect(
      code(() =>
        attentionFromHF(backend, { ...qwen3, model_type: "phi", qk_layernorm: true }, qwen3Weights, {
          layerIdx: 0,
        }),
      ),
    ).toEqual(["NOT_IMPLEMENTED", "qk_layernorm"]);
    expect(code(() => attentionFromHF(backend, qwen3, qwen3Weights, { layerIdx: 5 }))).toEqual([
      "INVALID_OPTION",
      "layerIdx",
    ]);
    expect(code(() => attentionFromHF(backend, qwen3, {}, { layerIdx: 1 }))).toEqual([
      "INVALID_OPTION",
      "weights",
    ]);
    expect(
      code(() =>
        attentionFromHF(backend, { ...qwen3, layer_types: ["full_attention", "diagonal"] }, qwen3Weights, {
          layerIdx: 1,
        }),
      ),
    ).toEqual(["INVALID_CONFIG", "layer_types[1]"]);
  });
});
