// The published shape works outside the workspace: pack the four packages with pnpm (which rewrites
// workspace: ranges), install the tarballs into a fresh project with plain npm, and use `ropekit` from a
// Node ESM script, from TypeScript (types resolve through the exports maps), and from a Vite bundle.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packPublished, run } from "./pack.js";

const require = createRequire(import.meta.url);
let dir: string;
let app: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ropekit-consumer-"));
  const files = packPublished(join(dir, "tarballs"));
  app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...files], app);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("consumer of the packed packages", () => {
  it("installs only ropekit's own packages (no stray dependencies)", () => {
    const lock = JSON.parse(readFileSync(join(app, "package-lock.json"), "utf8")) as {
      packages: Record<string, unknown>;
    };
    const installed = Object.keys(lock.packages)
      .filter((p) => p !== "")
      .sort();
    expect(installed).toEqual([
      "node_modules/@ropekit/backend-js",
      "node_modules/@ropekit/backend-wasm",
      "node_modules/@ropekit/backend-webgpu",
      "node_modules/@ropekit/core",
      "node_modules/@webgpu/types", // backend-webgpu's declarations use WebGPU's types (no runtime code)
      "node_modules/ropekit",
    ]);
  });

  it("imports ropekit from Node ESM and gets correct numbers", () => {
    writeFileSync(
      join(app, "main.mjs"),
      `import { applyRope, getBackend, ropeSpecFromHF, ropeSpec, RopekitError } from "ropekit";
const out = {};
const picked = await getBackend();
out.backend = picked.name;
out.webgpu = picked.skipped.find((s) => s.name === "webgpu")?.reason;
// headDim 2: (1, 0) at position p must become (cos p, sin p).
const two = await applyRope({ data: new Float32Array([1, 0]), shape: [1, 1, 1, 2], layout: "bshd" }, ropeSpec({ headDim: 2 }), { positions: 100000 });
out.two = Array.from(two.data);
// Llama-3.1 config: pair 0 has frequency 1 and is a high-frequency band that llama3 leaves unchanged.
const spec = ropeSpecFromHF({ hidden_size: 4096, num_attention_heads: 32, rope_theta: 500000, max_position_embeddings: 131072,
  rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
const x = new Float32Array(128); x[0] = 1;
const q = await applyRope({ data: x, shape: [1, 1, 1, 128], layout: "bshd" }, spec, { positions: 131071 });
out.llama = [q.data[0], q.data[64]];
try { await applyRope({ data: x, shape: [1, 1, 1, 128], layout: "bshd" }, spec, { positions: -1 }); }
catch (e) { out.error = [e instanceof RopekitError, e.code]; }
console.log(JSON.stringify(out));
`,
    );
    const out = JSON.parse(run("node", ["main.mjs"], app)) as {
      backend: string;
      webgpu: string;
      two: number[];
      llama: number[];
      error: [boolean, string];
    };
    expect(out.backend).toBe("wasm");
    // The optional peer `webgpu` (Dawn) is not installed: the umbrella says how to get it.
    expect(out.webgpu).toMatch(/optional peer dependency `webgpu`.*npm install webgpu/);
    expect(out.two[0]).toBeCloseTo(Math.cos(100000), 6);
    expect(out.two[1]).toBeCloseTo(Math.sin(100000), 6);
    expect(out.llama[0]).toBeCloseTo(Math.cos(131071), 6);
    expect(out.llama[1]).toBeCloseTo(Math.sin(131071), 6);
    expect(out.error).toEqual([true, "INVALID_POSITIONS"]);
  });

  it("type-checks a TypeScript consumer against the published types, and rejects misuse", () => {
    writeFileSync(
      join(app, "main.ts"),
      `import { applyRope, ropeSpecFromHF, type HeadsTensor, type RopeSpec } from "ropekit";
import { describeConformance } from "@ropekit/core/testing";
const spec: RopeSpec = ropeSpecFromHF({ hidden_size: 64, num_attention_heads: 4 });
const q: HeadsTensor<Float32Array> = { data: new Float32Array(16), shape: [1, 1, 1, 16], layout: "bshd" };
export const rotated: Promise<HeadsTensor> = applyRope(q, spec, { positions: 3, inPlace: true });
export type Suite = typeof describeConformance;
// @ts-expect-error: "bsdh" is not a Layout
export const bad: HeadsTensor = { data: new Float32Array(16), shape: [1, 1, 1, 16], layout: "bsdh" };
// @ts-expect-error: inPlace is a boolean
applyRope(q, spec, { inPlace: "yes" });
`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ["main.ts"],
      }),
    );
    const tsc = require.resolve("typescript/bin/tsc");
    // skipLibCheck false: our .d.ts files must compile too, without vitest installed (an optional peer).
    // An unused @ts-expect-error is itself an error, so loose (any-typed) declarations fail this too.
    let output = "";
    try {
      output = run("node", [tsc, "-p", "tsconfig.json"], app);
    } catch (error) {
      output = `${(error as { stdout?: string }).stdout ?? ""}${(error as { stderr?: string }).stderr ?? ""}`;
    }
    expect(output.trim()).toBe("");
  });

  it("bundles for the browser with Vite (no Node built-ins) and the bundle runs", async () => {
    writeFileSync(
      join(app, "entry.js"),
      `import { applyRope, ropeSpec, getBackend } from "ropekit";
export async function demo() {
  const picked = await getBackend();
  const out = await applyRope({ data: new Float32Array([1, 0]), shape: [1, 1, 1, 2], layout: "bshd" }, ropeSpec({ headDim: 2 }), { positions: 2 });
  return { backend: picked.name, values: Array.from(out.data) };
}
`,
    );
    const { build } = await import("vite");
    await build({
      root: app,
      logLevel: "silent",
      build: {
        outDir: join(app, "bundle"),
        lib: { entry: join(app, "entry.js"), formats: ["es"], fileName: "entry" },
        minify: false,
      },
    });
    const bundlePath = join(app, "bundle", "entry.js");
    const code = readFileSync(bundlePath, "utf8");
    expect(code).not.toMatch(/from\s+["']node:/);
    expect(code).not.toMatch(/require\(/);
    const mod = (await import(bundlePath)) as { demo: () => Promise<{ backend: string; values: number[] }> };
    const result = await mod.demo();
    expect(result.backend).toBe("wasm");
    expect(result.values[0]).toBeCloseTo(Math.cos(2), 6);
    expect(result.values[1]).toBeCloseTo(Math.sin(2), 6);
  });
});
