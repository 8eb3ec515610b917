// The published shape works outside the workspace, in every runtime and bundler a user may pick: pack the
// packages with pnpm (which rewrites workspace: ranges), install the tarballs and the tools (pinned) into
// one fresh project with plain npm, and run the same probe — getBackend(), then Llama-3.1 RoPE checked
// against the f64 reference — in Node ESM and CommonJS, Bun, Deno, and in headless Chromium from a
// Vite dev server, a Vite build, webpack 5, esbuild, Rollup and CDN-style URLs. TypeScript consumers
// type-check in strict mode under every moduleResolution. Each consumer prints one matrix line.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./pack.js";
import { CHROMIUM, HAVE_CHROMIUM, ISOLATION, launch, serve } from "./consumer/browser.js";
import { type Built, cdnPage, esbuild, rollup, viteBuild, viteDev, webpack } from "./consumer/bundlers.js";
import {
  GPUJS_PAGE,
  type GpujsResult,
  PROBE_CJS,
  PROBE_ESM,
  type ProbeResult,
  matrixLine,
  probeError,
} from "./consumer/probe.js";
import { type Project, RUNTIMES, addPackage, createProject } from "./consumer/project.js";

const OWN = [
  "@ropekit/backend-js",
  "@ropekit/backend-wasm",
  "@ropekit/backend-webgpu",
  "@ropekit/core",
  "ropekit",
  // backend-webgpu's declarations name WebGPU types (GPUDevice): types only, no code.
  "@webgpu/types",
];
const TOLERANCE = 1e-5;
const lines: string[] = [];
let project: Project;

if (!HAVE_CHROMIUM && process.env["CI"])
  throw new Error(`no Chromium at ${CHROMIUM} in CI: apt-get install -y chromium`);

beforeAll(() => {
  const started = Date.now();
  project = createProject("ropekit-consumer-");
  lines.push(`setup: packed and installed with npm in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 600_000);

afterAll(() => {
  const report = [`node ${process.version}`, ...lines].join("\n");
  console.log(`\nconsumer matrix\n${report}`);
  mkdirSync(join(import.meta.dirname, "../test-results"), { recursive: true });
  writeFileSync(join(import.meta.dirname, "../test-results/consumer-matrix.txt"), `${report}\n`);
  if (project) rmSync(project.dir, { recursive: true, force: true });
});

/** Checks a probe result (wasm picked, values against the reference, 2 threads where asked) and records its line. */
function check(consumer: string, result: ProbeResult, threads: boolean): void {
  expect(result.error, consumer).toBeUndefined();
  lines.push(matrixLine(consumer, result));
  expect(result.backend, `${consumer}: ${result.skipped.join("; ")}`).toBe("wasm");
  // Threads: the top-level API may use them (configure({ threads })) where shared memory is allowed.
  expect(result.mode).toMatch(/^wasm-(relaxed-)?simd(-threads\d+)?$/);
  expect(probeError(result.values)).toBeLessThan(TOLERANCE);
  if (threads) {
    expect(result.threads?.mode).toMatch(/-threads2$/);
    expect(probeError(result.threads?.values ?? [])).toBeLessThan(TOLERANCE);
  }
}

function runProbe(command: string, args: string[]): ProbeResult {
  return JSON.parse(run(command, args, project.app)) as ProbeResult;
}

describe("consumer of the packed packages", () => {
  it("installs only ropekit's own packages as ropekit's dependencies (no stray dependencies)", () => {
    const lock = JSON.parse(readFileSync(join(project.app, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dependencies?: Record<string, string> }>;
    };
    for (const name of OWN.filter((n) => n.includes("ropekit"))) {
      const entry = lock.packages[`node_modules/${name}`];
      expect(entry, name).toBeDefined();
      for (const dep of Object.keys(entry?.dependencies ?? {}))
        expect(OWN, `${name} → ${dep}`).toContain(dep);
    }
  });

  it("Node ESM: import", () => {
    writeFileSync(join(project.app, "probe.mjs"), PROBE_ESM);
    check("node-esm", runProbe("node", ["probe.mjs"]), true);
  });

  it("Node ESM: errors and the Llama-3.1 high-frequency band", () => {
    writeFileSync(
      join(project.app, "main.mjs"),
      `import { applyRope, ropeSpecFromHF, ropeSpec, RopekitError } from "ropekit";
const out = {};
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
    const out = JSON.parse(run("node", ["main.mjs"], project.app)) as {
      two: number[];
      llama: number[];
      error: [boolean, string];
    };
    expect(out.two[0]).toBeCloseTo(Math.cos(100000), 6);
    expect(out.two[1]).toBeCloseTo(Math.sin(100000), 6);
    expect(out.llama[0]).toBeCloseTo(Math.cos(131071), 6);
    expect(out.llama[1]).toBeCloseTo(Math.sin(131071), 6);
    expect(out.error).toEqual([true, "INVALID_POSITIONS"]);
  });

  it(`Node CommonJS: require("ropekit") (on Node ${process.version})`, () => {
    writeFileSync(join(project.app, "probe.cjs"), PROBE_CJS);
    check("node-cjs", runProbe("node", ["probe.cjs"]), true);
  });

  for (const [runtime, version] of Object.entries(RUNTIMES)) {
    it(`${runtime} ${version} (from npm)`, () => {
      writeFileSync(join(project.app, "probe.mjs"), PROBE_ESM);
      const args = runtime === "deno" ? ["run", "-A", "probe.mjs"] : ["probe.mjs"];
      let result: ProbeResult;
      try {
        result = runProbe("npx", ["-y", `${runtime}@${version}`, ...args]);
      } catch (error) {
        const e = error as { stderr?: string; message: string };
        // Not installable here (no network to the registry): say so, do not pass silently.
        if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|network/i.test(e.stderr ?? e.message)) {
          lines.push(`consumer ${runtime.padEnd(28)} NOT RUN: npx could not fetch ${runtime}@${version}`);
          if (process.env["CI"]) throw error;
          return;
        }
        throw error;
      }
      check(runtime, result, true);
    });
  }
});

describe("TypeScript consumers (strict, the published .d.ts checked too)", () => {
  const source = `import { applyRope, ropeSpecFromHF, type HeadsTensor, type RopeSpec } from "ropekit";
import type { describeConformance } from "@ropekit/core/testing";
const spec: RopeSpec = ropeSpecFromHF({ hidden_size: 64, num_attention_heads: 4 });
const q: HeadsTensor<Float32Array> = { data: new Float32Array(16), shape: [1, 1, 1, 16], layout: "bshd" };
export const rotated: Promise<HeadsTensor> = applyRope(q, spec, { positions: 3, inPlace: true });
export type Suite = typeof describeConformance;
// @ts-expect-error: "bsdh" is not a Layout
export const bad: HeadsTensor = { data: new Float32Array(16), shape: [1, 1, 1, 16], layout: "bsdh" };
// @ts-expect-error: inPlace is a boolean
applyRope(q, spec, { inPlace: "yes" });
`;
  const cases = [
    { name: "bundler-esm", module: "ESNext", resolution: "Bundler", file: "esm.ts" },
    { name: "bundler-cjs", module: "Preserve", resolution: "Bundler", file: "cjs.cts" },
    { name: "node16-esm", module: "Node16", resolution: "Node16", file: "esm.mts" },
    // The packages are ESM-only (engines >=20.19: Node's require(esm)); TypeScript's node16 mode predates
    // require(esm) and says TS1479 (and TS1541 for the type-only import) — the one expected gap (nodenext,
    // TypeScript >= 5.8, accepts it).
    {
      name: "node16-cjs",
      module: "Node16",
      resolution: "Node16",
      file: "cjs.cts",
      expect: ["TS1479", "TS1541"],
    },
    { name: "nodenext-esm", module: "NodeNext", resolution: "NodeNext", file: "esm.mts" },
    { name: "nodenext-cjs", module: "NodeNext", resolution: "NodeNext", file: "cjs.cts" },
  ];
  for (const c of cases) {
    it(`type-checks with module ${c.module}, moduleResolution ${c.resolution} (${c.file}), and rejects misuse`, () => {
      const dir = join(project.app, "ts", c.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, c.file), source);
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module: c.module,
            moduleResolution: c.resolution,
            strict: true,
            noEmit: true,
            // Our .d.ts files must compile too, without vitest installed (an optional peer); TypeScript's
            // own lib files need no checking here (most of each run's time).
            skipLibCheck: false,
            skipDefaultLibCheck: true,
            types: [],
          },
          files: [c.file],
        }),
      );
      // An unused @ts-expect-error is itself an error, so loose (any-typed) declarations fail this too.
      let output = "";
      try {
        output = run("node", [join(project.app, "node_modules/typescript/bin/tsc"), "-p", dir], dir);
      } catch (error) {
        output = `${(error as { stdout?: string }).stdout ?? ""}${(error as { stderr?: string }).stderr ?? ""}`;
      }
      const errors = [...output.matchAll(/error (TS\d+)/g)].map((m) => m[1]);
      lines.push(
        `consumer ${`typescript-${c.name}`.padEnd(28)} ${errors.length === 0 ? "tsc clean" : `tsc errors: ${[...new Set(errors)].join(", ")}${c.expect ? " (expected: ESM-only packages)" : ""}`}`,
      );
      if (c.expect) expect(new Set(errors)).toEqual(new Set(c.expect));
      else expect(output.trim()).toBe("");
    });
  }
});

describe.skipIf(!HAVE_CHROMIUM)("browser consumers in headless Chromium", () => {
  let browser: Awaited<ReturnType<typeof launch>>;
  const closers: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    browser = await launch(await project.load("playwright-core"));
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await browser?.close();
  });

  /** Serves a build, loads it, and checks the probe, the warnings and the network. */
  async function page(consumer: string, built: Built): Promise<void> {
    const server = await serve(built.dir);
    closers.push(server.close);
    const { result, problems } = await browser.open(server.url);
    expect(problems, consumer).toEqual([]);
    check(consumer, result, true);
    expect(built.warnings, consumer).toEqual([]);
    // Nothing for the host to copy or serve besides the bundle: no .wasm, no worker file.
    expect(
      built.files.filter((f) => /\.wasm$|worker/.test(f)),
      consumer,
    ).toEqual([]);
  }

  it("Vite dev server (dependency pre-bundling, no optimizeDeps option)", async () => {
    const dev = await viteDev(project, ISOLATION);
    closers.push(dev.close);
    const { result, problems } = await browser.open(dev.url);
    expect(problems).toEqual([]);
    check("vite-dev", result, true);
    expect(dev.warnings).toEqual([]);
  });

  it("Vite build (defaults, minified)", async () => {
    await page("vite-build", await viteBuild(project));
  });

  it("webpack 5 (production, no Critical dependency warnings)", async () => {
    await page("webpack-5", await webpack(project));
  });

  it("esbuild (bundle, minify, platform browser)", async () => {
    await page("esbuild", await esbuild(project));
  });

  it("custom hosting: the page sets ROPEKIT_WASM_PATHS; a wrong location says URL and HTTP status", async () => {
    // The esbuild page again, with the .wasm files copied next to it as a host would.
    const built = await esbuild(project);
    const assets = join(built.dir, "assets");
    mkdirSync(assets, { recursive: true });
    const wasmDist = join(project.app, "node_modules/@ropekit/backend-wasm/dist");
    for (const f of readdirSync(wasmDist).filter((n) => n.endsWith(".wasm")))
      copyFileSync(join(wasmDist, f), join(assets, f));
    const html = (location: string) =>
      `<!doctype html><link rel="icon" href="data:,"><script>globalThis.ROPEKIT_WASM_PATHS = ${JSON.stringify(location)};</script><script type="module" src="./main.js"></script>`;
    writeFileSync(join(built.dir, "hosted.html"), html("./assets/"));
    writeFileSync(join(built.dir, "missing.html"), html("./nowhere/"));
    const server = await serve(built.dir);
    closers.push(server.close);

    const hosted = await browser.open(`${server.url}hosted.html`);
    expect(hosted.problems).toEqual([]);
    check("esbuild-wasmPaths", hosted.result, true);
    expect(hosted.loaded).toContain(`${server.url}assets/ropekit.simd.wasm`);

    // The page goes on with backend-js, and the skip reason is the real one.
    const missing = await browser.open(`${server.url}missing.html`, false);
    expect(missing.result.error).toBeUndefined();
    expect(missing.result.backend).toBe("js");
    const reason = missing.result.skipped.find((s) => s.startsWith("wasm:")) ?? "";
    expect(reason).toContain(`${server.url}nowhere/ropekit.simd.wasm`);
    expect(reason).toContain("HTTP 404");
    expect(reason).toContain("globalThis.ROPEKIT_WASM_PATHS");
    expect(reason).not.toMatch(/SIMD/);
    expect(probeError(missing.result.values)).toBeLessThan(TOLERANCE);
    lines.push(
      `consumer ${"esbuild-wasmPaths-404".padEnd(28)} backend ${missing.result.backend} (skipped ${reason})`,
    );
  });

  it("Rollup (node-resolve, browser)", async () => {
    await page("rollup", await rollup(project));
  });

  it("CDN-style URLs (another origin, an import map, no bundler)", async () => {
    const cdn = await serve(join(project.app, "node_modules"), true);
    closers.push(cdn.close);
    await page("cdn-import-map", { dir: cdnPage(project, cdn.url), files: [], warnings: [] });
  });

  it("backend-gpujs in a minified Vite build (gpu.js compiles kernels from source text)", async () => {
    addPackage(project, "backend-gpujs");
    const built = await viteBuild(project, "vite-build-gpujs", GPUJS_PAGE);
    const server = await serve(built.dir);
    closers.push(server.close);
    const { result, problems } = await browser.open<GpujsResult>(server.url);
    expect(result.error).toBeUndefined();
    expect(problems).toEqual([]);
    const worst = Math.max(...Object.values(result.errors));
    lines.push(
      `consumer ${"vite-build-gpujs (minified)".padEnd(28)} backend gpujs mode ${result.mode} max error ${worst.toExponential(2)} (${Object.entries(
        result.errors,
      )
        .map(([op, e]) => `${op} ${e.toExponential(1)}`)
        .join(", ")})`,
    );
    expect(Object.keys(result.errors)).toHaveLength(5);
    for (const [op, error] of Object.entries(result.errors)) expect(error, op).toBeLessThan(1e-4);
    // Minified (Vite's default), yet the kernels reached gpu.js as source strings, untouched.
    const bundle = built.files
      .filter((f) => f.endsWith(".js"))
      .map((f) => readFileSync(join(built.dir, f), "utf8"));
    expect(bundle.some((code) => code.includes("function ropeKernel("))).toBe(true);
  });
});
