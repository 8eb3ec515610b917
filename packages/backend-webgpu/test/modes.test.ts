import {
  type AttentionOptions,
  type HeadsTensor,
  createReferenceBackend,
  pickBackend,
  registerBackend,
  unregisterBackend,
} from "@ropekit/core";
import { maxRelativeError } from "@ropekit/core/testing";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AdapterDescription,
  createWebgpuBackend,
  declineReason,
  webgpuRegistration,
} from "../src/index.js";
import { webgpuUnavailable, whenWebgpu } from "./availability.js";

const unavailable = await webgpuUnavailable();

const adapter = (a: Partial<AdapterDescription>): AdapterDescription => ({
  vendor: "",
  architecture: "",
  device: "",
  description: "",
  isFallbackAdapter: false,
  software: false,
  runtime: "caller",
  shaderF16: false,
  subgroups: false,
  ...a,
});

afterEach(() => {
  unregisterBackend("webgpu");
  unregisterBackend("cpu-fake");
});

describe("backend-webgpu selection (stubbed adapters)", () => {
  const base = createReferenceBackend();
  it("declines fallback and software adapters with the reason, takes a hardware one", () => {
    const swiftshader = adapter({
      vendor: "google",
      architecture: "swiftshader",
      description: "SwiftShader driver 5.0.0",
      isFallbackAdapter: true,
      software: true,
    });
    expect(declineReason({ ...base, adapter: swiftshader } as never)).toMatch(
      /fallback adapter.*swiftshader/,
    );
    const lavapipe = adapter({ vendor: "mesa", architecture: "llvmpipe", software: true });
    expect(declineReason({ ...base, adapter: lavapipe } as never)).toMatch(/software renderer/);
    const nvidia = adapter({ vendor: "nvidia", architecture: "hopper", description: "NVIDIA H200" });
    expect(declineReason({ ...base, adapter: nvidia } as never)).toBeUndefined();
  });

  it("pickBackend passes over a software adapter unless asked, and takes a hardware one", async () => {
    const stub = (a: AdapterDescription) => ({
      ...webgpuRegistration,
      isSupported: () => true,
      create: () => Object.assign(createReferenceBackend(), { name: "webgpu", adapter: a }),
    });
    registerBackend({
      name: "cpu-fake",
      priority: 20,
      isSupported: () => true,
      create: createReferenceBackend,
    });
    registerBackend(stub(adapter({ architecture: "swiftshader", isFallbackAdapter: true, software: true })));
    const auto = await pickBackend({ env: {} });
    expect(auto.name).toBe("cpu-fake");
    expect(auto.skipped.find((s) => s.name === "webgpu")?.reason).toMatch(/fallback adapter/);
    expect((await pickBackend({ backend: "webgpu", env: {} })).name).toBe("webgpu");
    unregisterBackend("webgpu");
    registerBackend(stub(adapter({ vendor: "nvidia", architecture: "hopper" })));
    expect((await pickBackend({ env: {} })).name).toBe("webgpu");
  });

  it("rejects bad options with INVALID_OPTION before touching the GPU", async () => {
    await expect(createWebgpuBackend({ maxBindingElements: 3 })).rejects.toMatchObject({
      code: "INVALID_OPTION",
    });
    await expect(createWebgpuBackend({ splitKeys: 100 })).rejects.toMatchObject({ code: "INVALID_OPTION" });
    await expect(createWebgpuBackend({ attentionPath: "fast" as never })).rejects.toMatchObject({
      code: "INVALID_OPTION",
    });
    await expect(createWebgpuBackend({ flashKernel: "unrolled" as never })).rejects.toMatchObject({
      code: "INVALID_OPTION",
    });
  });
});

function tensor(
  seed: number,
  batch: number,
  seq: number,
  heads: number,
  dim: number,
): HeadsTensor<Float32Array> {
  const data = Float32Array.from({ length: batch * seq * heads * dim }, (_, i) => Math.sin(seed + i * 0.37));
  return { data, shape: [batch, heads, seq, dim], layout: "bhsd" };
}

whenWebgpu("backend-webgpu on this adapter", unavailable, () => {
  describe("backend-webgpu on this adapter", () => {
    it("names the adapter and whether it is software", async () => {
      const backend = await createWebgpuBackend();
      const d = backend.describe();
      console.info(`[backend-webgpu] ${d.mode}: ${d.notes}`);
      expect(d.mode).toMatch(/^webgpu \(/);
      expect(d.notes).toContain(backend.adapter.description || backend.adapter.vendor);
      if (backend.adapter.isFallbackAdapter) expect(d.mode).toMatch(/, software\)$/);
      backend.dispose();
    });

    // Decode shapes: few query rows against hundreds of keys take the split-K kernels on "auto".
    const decodeCases: [string, number, number, number, number, AttentionOptions][] = [
      ["decode 1 × 700, GQA 8:2, causal", 1, 700, 8, 2, { causal: true }],
      [
        "decode 3 × 513, window 100, ALiBi",
        3,
        513,
        4,
        4,
        { causal: true, window: 100, alibiSlopes: [0.5, 0.25, 0.125, 0.0625] },
      ],
      ["decode 2 × 1100, soft-cap, kvLength 1000", 2, 1100, 2, 1, { softcap: 20, kvLength: 1000 }],
    ];
    for (const [name, qLen, kvLen, qHeads, kvHeads, options] of decodeCases) {
      it(`${name}: split-K, flash and the f64 reference agree`, async () => {
        const auto = await createWebgpuBackend();
        const flash = await createWebgpuBackend({ attentionPath: "flash" });
        const reference = createReferenceBackend();
        const q = tensor(1, 1, qLen, qHeads, 32);
        const k = tensor(2, 1, kvLen, kvHeads, 32);
        const v = tensor(3, 1, kvLen, kvHeads, 32);
        const o = { ...options, returnLse: true };
        const [a, f, e] = await Promise.all([
          auto.attention(q, k, v, o),
          flash.attention(q, k, v, o),
          reference.attention(q, k, v, o),
        ]);
        expect(maxRelativeError(a.output.data, e.output.data)).toBeLessThanOrEqual(1e-5);
        expect(maxRelativeError(f.output.data, e.output.data)).toBeLessThanOrEqual(1e-5);
        expect(maxRelativeError(a.lse as Float32Array, e.lse as Float64Array)).toBeLessThanOrEqual(1e-5);
        auto.dispose();
        flash.dispose();
      });
    }

    // Every prefill kernel ("auto" is lanes on software adapters, tiled on hardware) on shapes with odd head
    // sizes (vec4 padding in tiled), rows spanning query heads and every score option compiled in.
    const prefillCases: [string, number, number, number, number, number, number, AttentionOptions][] = [
      ["GQA 6:2, causal, head 6 / v 10", 37, 37, 6, 2, 6, 10, { causal: true }],
      [
        "bottom-right causal, window 9, ALiBi",
        29,
        61,
        3,
        3,
        8,
        8,
        { causal: true, window: 9, alibiSlopes: [0.5, 0.25, 0.125] },
      ],
      [
        "soft-cap and an additive mask",
        45,
        45,
        2,
        1,
        12,
        12,
        {
          softcap: 8,
          mask: {
            data: Float32Array.from({ length: 45 * 45 }, (_, i) => (i % 5 === 0 ? -1e9 : Math.cos(i))),
            shape: [1, 1, 45, 45],
          },
        },
      ],
    ];
    for (const [name, qLen, kvLen, qHeads, kvHeads, dim, vDim, options] of prefillCases) {
      it(`prefill ${name}: lanes, tiled, looped and the f64 reference agree`, async () => {
        const reference = createReferenceBackend();
        const q = tensor(7, 1, qLen, qHeads, dim);
        const k = tensor(8, 1, kvLen, kvHeads, dim);
        const v = tensor(9, 1, kvLen, kvHeads, vDim);
        const o = { ...options, returnLse: true };
        const e = await reference.attention(q, k, v, o);
        for (const flashKernel of ["lanes", "tiled", "looped"] as const) {
          const backend = await createWebgpuBackend({ flashKernel, attentionPath: "flash" });
          const a = await backend.attention(q, k, v, o);
          expect(maxRelativeError(a.output.data, e.output.data), flashKernel).toBeLessThanOrEqual(1e-5);
          expect(
            maxRelativeError(a.lse as Float32Array, e.lse as Float64Array),
            flashKernel,
          ).toBeLessThanOrEqual(1e-5);
          backend.dispose();
        }
      });
    }

    it("prefill 2 × 300 causal with GQA through (batch, kv head) jobs and query blocks", async () => {
      const chunked = await createWebgpuBackend({ maxBindingElements: 4096 });
      const reference = createReferenceBackend();
      const q = tensor(4, 2, 300, 4, 8);
      const k = tensor(5, 2, 300, 2, 8);
      const v = tensor(6, 2, 300, 2, 8);
      const mask = {
        data: Float32Array.from({ length: 300 * 300 }, (_, i) => (i % 7 === 0 ? -1e9 : Math.cos(i))),
        shape: [1, 1, 300, 300] as [number, number, number, number],
      };
      const o: AttentionOptions = { causal: true, mask, returnLse: true };
      const [a, e] = await Promise.all([chunked.attention(q, k, v, o), reference.attention(q, k, v, o)]);
      expect(maxRelativeError(a.output.data, e.output.data)).toBeLessThanOrEqual(1e-5);
      chunked.dispose();
    });
  });
});
