import { describe, expect, it } from "vitest";
import {
  addLearned,
  addLearnedReference,
  addSinusoidal,
  addSinusoidalReference,
  applyRope,
  applyRopeQK,
  applyRopeReference,
  attention,
  attentionReference,
  getBackend,
  linear,
  linearReference,
  listBackends,
  maxRelativeError,
  ropeSpecFromHF,
  sinusoidal,
  sinusoidalReference,
} from "../src/index.js";

const spec = ropeSpecFromHF({
  hidden_size: 256,
  num_attention_heads: 4,
  max_position_embeddings: 131072,
  rope_theta: 1000000,
  rope_scaling: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 32768 },
});
const values = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.37) * 1.5);

describe("ropekit umbrella", () => {
  it("registers webgpu, wasm, js and the reference, and prefers wasm where SIMD exists and no GPU is", async () => {
    expect(listBackends().map((b) => b.name)).toEqual(["webgpu", "wasm", "js", "reference"]);
    const picked = await getBackend({ env: {} });
    expect(picked.name).toBe("wasm");
    expect(picked.mode).toMatch(/^wasm-/);
    // No hardware adapter here: webgpu is unavailable (no Vulkan driver) or declined (a software one).
    expect(picked.skipped[0]).toMatchObject({ name: "webgpu", priority: 40 });
    expect(picked.skipped[0]?.reason).toMatch(/^(failed to initialise|not picked automatically): /);
    expect(picked.skipped.slice(1)).toEqual([
      { name: "js", priority: 10, reason: "lower priority than wasm" },
      { name: "reference", priority: 0, reason: "lower priority than wasm" },
    ]);
  });

  it("ROPEKIT_BACKEND=js picks the plain TypeScript backend", async () => {
    try {
      expect((await getBackend({ env: { ROPEKIT_BACKEND: "js" } })).mode).toBe("js-f32");
    } finally {
      await getBackend({ env: {} });
    }
  });

  it("ROPEKIT_BACKEND switches the backend the top-level ops use", async () => {
    try {
      const picked = await getBackend({ env: { ROPEKIT_BACKEND: "reference" } });
      expect(picked.name).toBe("reference");
      const x = {
        data: values(64),
        shape: [1, 1, 1, 64] as [number, number, number, number],
        layout: "bshd" as const,
      };
      const out = await applyRope(x, spec, { positions: 3 });
      expect(out.data).toBeInstanceOf(Float64Array); // the reference writes f64
    } finally {
      await getBackend({ env: {} });
    }
  });

  it("top-level ops agree with the f64 reference", async () => {
    await getBackend({ env: {} });
    const q = {
      data: values(2 * 3 * 4 * 64),
      shape: [2, 3, 4, 64] as [number, number, number, number],
      layout: "bshd" as const,
    };
    const k = {
      data: values(2 * 2 * 3 * 64),
      shape: [2, 2, 3, 64] as [number, number, number, number],
      layout: "bhsd" as const,
    };
    const both = await applyRopeQK(q, k, spec, { positions: [5, 6, 7, 90000, 90001, 90002] });
    expect(
      maxRelativeError(
        both.q.data,
        applyRopeReference(q, spec, { positions: [5, 6, 7, 90000, 90001, 90002] }).data,
      ),
    ).toBeLessThan(1e-5);
    expect(
      maxRelativeError(
        both.k.data,
        applyRopeReference(k, spec, { positions: [5, 6, 7, 90000, 90001, 90002] }).data,
      ),
    ).toBeLessThan(1e-5);

    const pe = await sinusoidal({ start: 10, length: 4 }, 6);
    expect(maxRelativeError(pe.data, sinusoidalReference({ start: 10, length: 4 }, 6).data)).toBeLessThan(
      1e-6,
    );
    const e = { data: values(2 * 3 * 6), shape: [2, 3, 6] as [number, number, number] };
    expect(
      maxRelativeError(
        (await addSinusoidal(e, { positions: 7 })).data,
        addSinusoidalReference(e, { positions: 7 }).data,
      ),
    ).toBeLessThan(1e-6);
    const table = { data: values(10 * 6), shape: [10, 6] };
    expect(
      maxRelativeError(
        (await addLearned(e, table, { positions: 2 })).data,
        addLearnedReference(e, table, { positions: 2 }).data,
      ),
    ).toBeLessThan(1e-6);
  });

  it("a bad explicit backend name fails loudly, then the default works again", async () => {
    await expect(getBackend({ backend: "webgpu-someday" })).rejects.toMatchObject({
      code: "UNKNOWN_BACKEND",
    });
    expect((await getBackend({ env: {} })).name).toBe("wasm");
  });
});

describe("ropekit attention", () => {
  it("top-level attention and linear agree with the f64 reference", async () => {
    await getBackend({ env: {} });
    const t = (shape: [number, number, number, number], seed: number) => ({
      data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * seed)),
      shape,
      layout: "bhsd" as const,
    });
    const q = t([1, 4, 3, 64], 0.3);
    const k = t([1, 2, 9, 64], 0.7);
    const v = t([1, 2, 9, 64], 0.9);
    const got = await attention(q, k, v, { causal: true, rope: { rope: spec } });
    const want = attentionReference(q, k, v, { causal: true, rope: { rope: spec } });
    expect(maxRelativeError(got.output.data, want.output.data)).toBeLessThan(1e-5);
    const x = { data: values(12), shape: [3, 4] };
    const w = { data: values(8), shape: [2, 4] };
    expect(maxRelativeError((await linear(x, w)).data, linearReference(x, w).data)).toBeLessThan(1e-6);
  });
});

describe("the public surface", () => {
  it("exports what users call, not core's plumbing", async () => {
    const names = Object.keys(await import("../src/index.js"));
    const plumbing = names.filter((n) =>
      /^(plan[A-Z]|check[A-Z]|require[A-Z]|validate|describeValue|frequencyKey|resolvePositions|positionAt|headsDims|tableRows|RopeTableCache|defineBackend|referenceKernels)/.test(
        n,
      ),
    );
    expect(plumbing).toEqual([]);
    for (const op of [
      "applyRope",
      "applyRopeQK",
      "attention",
      "rmsNorm",
      "linear",
      "ropeSpecFromHF",
      "getBackend",
      "MultiHeadAttention",
      "KVCache",
      "RopekitError",
      "configure",
      "toOrtTensor",
    ]) {
      expect(names).toContain(op);
    }
    // The ops, specs, layer, references, backends, configure and the interop helpers: a small surface.
    expect(names.length).toBeLessThan(55);
  });

  it("rmsNorm runs on the picked backend and matches the f64 reference", async () => {
    const { rmsNorm, rmsNormReference } = await import("../src/index.js");
    const x = { data: values(2 * 3 * 8), shape: [2, 3, 8] };
    const weight = { data: values(8), shape: [8] };
    const out = await rmsNorm(x, weight, { eps: 1e-6, weightOffset: 1 });
    const ref = rmsNormReference(x, weight, { eps: 1e-6, weightOffset: 1 });
    expect(maxRelativeError(out.data, ref.data)).toBeLessThan(1e-6);
  });
});

describe("examples", () => {
  it("hf-layer-from-checkpoint: safetensors + config.json → attentionFromHF → prefill and decode within 1e-4 of transformers", async () => {
    const { execFileSync } = await import("node:child_process");
    const script = new URL("../examples/hf-layer-from-checkpoint.mjs", import.meta.url).pathname;
    for (const family of ["qwen3", "gpt_oss", "phi3"]) {
      const out = execFileSync(process.execPath, [script, family], { encoding: "utf8" });
      const error = Number(/max error\s+(\S+)/.exec(out)?.[1]);
      expect(error).toBeLessThanOrEqual(1e-4);
      expect(out).toMatch(/backend\s+\w+ \(mode /);
    }
  });
});
