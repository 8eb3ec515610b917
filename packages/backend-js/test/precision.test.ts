// The 1e-5 bound at far positions, at real head sizes — and a control showing the bound is tight enough
// to catch the common mistake (angles computed in f32, as a GPU shader or a naive port would).
import { applyRopeReference, ropeFrequencies, ropeSpecFromHF } from "@ropekit/core";
import { HF_CONFIGS } from "@ropekit/core/cases";
import { maxRelativeError } from "@ropekit/core/testing";
import { describe, expect, it } from "vitest";
import { createJsBackend } from "../src/index.js";

// The llama31 case config (llama3 scaling, base 500000) at Llama-3.1-8B's real head size 128.
const llama31 = ropeSpecFromHF({ ...HF_CONFIGS.llama31, hidden_size: 4096, num_attention_heads: 32 });

function input(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin(i * 12.9898) * 2;
  return x;
}

describe("backend-js precision at far positions", () => {
  const backend = createJsBackend();
  const seq = 73;
  const heads = 4;
  const x = {
    data: input(seq * heads * 128),
    shape: [1, seq, heads, 128] as [number, number, number, number],
    layout: "bshd" as const,
  };
  const start = 131072 - seq + 1; // last position 131 072

  it("stays within 1e-5 of the f64 reference up to position 131 072 (head 128, Llama-3.1 scaling)", async () => {
    const out = await backend.applyRope(x, llama31, { positions: start });
    const ref = applyRopeReference(x, llama31, { positions: start });
    const err = maxRelativeError(out.data, ref.data);
    expect(err).toBeLessThanOrEqual(1e-5);
  });

  it("control: f32 angles (p·θ rounded to f32) break the same bound", () => {
    const { invFreq } = ropeFrequencies(llama31, { seqLen: start + seq });
    const f32 = x.data.slice();
    for (let s = 0; s < seq; s++) {
      for (let h = 0; h < heads; h++) {
        const o = (s * heads + h) * 128;
        for (let i = 0; i < 64; i++) {
          const angle = Math.fround(Math.fround(start + s) * Math.fround(invFreq[i] as number));
          const c = Math.cos(angle);
          const sn = Math.sin(angle);
          const a = f32[o + i] as number;
          const b = f32[o + i + 64] as number;
          f32[o + i] = a * c - b * sn;
          f32[o + i + 64] = b * c + a * sn;
        }
      }
    }
    const ref = applyRopeReference(x, llama31, { positions: start });
    expect(maxRelativeError(f32, ref.data)).toBeGreaterThan(1e-4);
  });
});

describe("table reuse", () => {
  it("returns identical results from the cache and from a fresh backend", async () => {
    const a = createJsBackend({ tableCacheSize: 1 });
    const b = createJsBackend();
    const x = {
      data: input(2 * 5 * 128),
      shape: [2, 5, 1, 128] as [number, number, number, number],
      layout: "bshd" as const,
    };
    const first = await a.applyRope(x, llama31, { positions: 40 });
    await a.applyRope(x, llama31, { positions: 1000 }); // evicts
    const again = await a.applyRope(x, llama31, { positions: 40 });
    const fresh = await b.applyRope(x, llama31, { positions: 40 });
    expect(again.data).toEqual(first.data);
    expect(fresh.data).toEqual(first.data);
  });

  it("rejects Float64Array data with INVALID_DTYPE (backend-js computes in f32)", async () => {
    const backend = createJsBackend();
    const x = {
      data: new Float64Array(128),
      shape: [1, 1, 1, 128] as [number, number, number, number],
      layout: "bshd" as const,
    };
    await expect(backend.applyRope(x, llama31)).rejects.toMatchObject({ code: "INVALID_DTYPE" });
  });
});
