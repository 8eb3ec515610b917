// The published build hands gpu.js its kernels as source strings (scripts/kernel-strings.mjs), so that a
// consumer's minifier cannot rewrite them. Checks dist/ (built before tests): no kernel is left as a
// function, and the string kernels compute what the f64 reference does in every op.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Backend, createReferenceBackend, maxRelativeError, ropeSpec } from "@ropekit/core";
import { describe, expect, it } from "vitest";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const fill = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * s + 0.1));

describe("backend-gpujs dist: kernels as strings", () => {
  it("leaves no kernel function in dist/ and makes each a string", () => {
    const files = readdirSync(dist, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(".js"))
      .map((e) => readFileSync(join(e.parentPath, e.name), "utf8"));
    const code = files.join("\n");
    expect(code).not.toMatch(/^(export )?function \w+Kernel\(/m);
    const strings = [...code.matchAll(/^(?:export )?const (\w+Kernel) = "function \1\(/gm)].map((m) => m[1]);
    // The probe, RoPE, positional rows, linear, RMSNorm's two and attention's four.
    expect(strings.sort()).toEqual(
      [
        "addKernel",
        "linearKernel",
        "outputKernel",
        "probeKernel",
        "ropeKernel",
        "rowMaxKernel",
        "rowSumKernel",
        "scaleKernel",
        "scoresKernel",
        "sumSquaresKernel",
      ].sort(),
    );
  });

  it("runs every op from the string kernels (cpu mode) and matches the f64 reference", async () => {
    const { createGpujsBackend } = (await import(join(dist, "index.js"))) as {
      createGpujsBackend(o: { mode: string }): Promise<Backend & { dispose(): void }>;
    };
    const gpu = await createGpujsBackend({ mode: "cpu" });
    const ref = createReferenceBackend();
    const heads = (s: number) => ({
      data: fill(2 * 8 * 16, s),
      shape: [1, 2, 8, 16] as const,
      layout: "bhsd" as const,
    });
    const spec = ropeSpec({ headDim: 16 });
    try {
      const rope = async (b: Backend) => (await b.applyRope(heads(0.37), spec, { positions: 300 })).data;
      expect(maxRelativeError(await rope(gpu), await rope(ref))).toBeLessThan(1e-5);
      const attention = async (b: Backend) =>
        (await b.attention(heads(0.11), heads(0.23), heads(0.31), { causal: true })).output.data;
      expect(maxRelativeError(await attention(gpu), await attention(ref))).toBeLessThan(1e-5);
      const linear = async (b: Backend) =>
        (await b.linear({ data: fill(64, 0.2), shape: [4, 16] }, { data: fill(128, 0.3), shape: [8, 16] }))
          .data;
      expect(maxRelativeError(await linear(gpu), await linear(ref))).toBeLessThan(1e-5);
      const norm = async (b: Backend) =>
        (await b.rmsNorm({ data: fill(64, 0.7), shape: [4, 16] }, { data: fill(16, 0.9), shape: [16] })).data;
      expect(maxRelativeError(await norm(gpu), await norm(ref))).toBeLessThan(1e-5);
      const rows = async (b: Backend) =>
        (await b.addSinusoidal({ data: fill(128, 0.13), shape: [1, 8, 16] })).data;
      expect(maxRelativeError(await rows(gpu), await rows(ref))).toBeLessThan(1e-5);
    } finally {
      gpu.dispose();
    }
  });
});
