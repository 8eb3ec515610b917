// The built demo in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no
// browser download): no console errors, every panel drawn, the numbers shown equal @ropekit/core's,
// switching the backend works, a bad config shows the RopekitError. Screenshots go to test-results/.
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, type Page, chromium } from "playwright-core";
import { applyRopeReference, ropeFrequencies, ropeSpec, ropeSpecFromHF } from "ropekit";
import { type PreviewServer, preview } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM_FLAGS, CHROMIUM_PATH, OFFLINE_FLAGS } from "../../../tools/chromium.mjs";
import { DEFAULT_CONFIG, RELATIVE_DIM, RELATIVE_N, relativeK, relativeQ } from "../src/data.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const shots = fileURLToPath(new URL("../test-results/", import.meta.url));
const CHROMIUM = CHROMIUM_PATH;
// The demo's main browser has no GPU at all (the page must work on the CPU backends alone).
const FLAGS = ["--headless", "--disable-gpu", ...OFFLINE_FLAGS];

let server: PreviewServer;
let browser: Browser;
let page: Page;
let url: string;
const consoleErrors: string[] = [];

// Without a browser this suite cannot run. In CI (CI=true) that is a failure — .ci/run installs Debian's
// chromium; on a developer machine the suite is reported as skipped, with this warning, never as passed.
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI)
  throw new Error(`no Chromium at ${CHROMIUM} in CI: apt-get install -y chromium`);
if (!hasChromium)
  console.warn(`[demo] browser test NOT RUN: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);

beforeAll(async () => {
  if (!hasChromium) return;
  if (!existsSync(`${root}dist/index.html`))
    throw new Error("apps/demo/dist is missing: build the demo first");
  mkdirSync(shots, { recursive: true });
  server = await preview({ root, logLevel: "silent", preview: { port: 0, host: "127.0.0.1" } });
  url = (server.resolvedUrls?.local[0] as string) ?? "";
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("body[data-ready='true']", { timeout: 90_000 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe.skipIf(!hasChromium)("demo in headless Chromium", () => {
  it("picks wasm, is cross-origin isolated, and draws every panel", async () => {
    await page.screenshot({ path: `${shots}demo-wasm.png`, fullPage: true });
    expect(await page.getAttribute("[data-testid=backend-info]", "data-backend")).toBe("wasm");
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    for (const panel of ["rotation", "frequencies", "relative", "decay", "attention", "speed"]) {
      const drawn = await page
        .locator(`#${panel} .plot`)
        .evaluate((el) => el.querySelectorAll("svg *, td").length);
      expect(drawn, `panel ${panel} is empty`).toBeGreaterThan(3);
    }
    expect(consoleErrors).toEqual([]);
  });

  it("shows the numbers @ropekit/core computes", async () => {
    // YaRN attention scale of the default config (Qwen2.5-style, factor 4): 1 + 0.1·ln 4.
    const scale = Number(await page.textContent("[data-testid=attention-scale]"));
    expect(scale).toBe(ropeFrequencies(ropeSpecFromHF(DEFAULT_CONFIG)).attentionScale);
    expect(scale).toBeCloseTo(1 + 0.1 * Math.log(4), 12);
    // q₅·k₃ with RoPE, against the f64 reference; and constant along the diagonal.
    const spec = ropeSpec({ headDim: RELATIVE_DIM });
    const at = (v: Float32Array, p: number) =>
      applyRopeReference({ data: v, shape: [1, 1, 1, RELATIVE_DIM], layout: "bshd" }, spec, { positions: p })
        .data;
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      Array.from(a).reduce((s, x, i) => s + x * (b[i] as number), 0);
    const expected = dot(at(relativeQ(), 5), at(relativeK(), 3));
    const shown53 = Number(await page.getAttribute("[data-testid=relative-rope]", "data-score53"));
    const shown1210 = Number(await page.getAttribute("[data-testid=relative-rope]", "data-score1210"));
    expect(Math.abs(shown53 - expected)).toBeLessThan(1e-5 * RELATIVE_N);
    expect(Math.abs(shown1210 - shown53)).toBeLessThan(1e-4);
    // Without PE a permuted sentence gives the permuted map; with RoPE it does not.
    expect(Number(await page.getAttribute("[data-testid=perm-none]", "data-gap"))).toBeLessThan(1e-5);
    expect(Number(await page.getAttribute("[data-testid=perm-rope]", "data-gap"))).toBeGreaterThan(1e-3);
  });

  it("switches the backend", async () => {
    await page.selectOption("[data-testid=backend-select]", "js");
    await page.waitForSelector("[data-testid=backend-info][data-backend='js']", { timeout: 60_000 });
    await page.waitForSelector("body[data-ready='true']", { timeout: 90_000 });
    expect(await page.textContent("[data-testid=backend-info]")).toContain("js-f32");
    await page.screenshot({ path: `${shots}demo-js.png`, fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it("says what became of webgpu (here: no GPU, so not picked) and why", async () => {
    const status = page.locator("[data-testid=webgpu-info]");
    expect(["unavailable", "declined"]).toContain(await status.getAttribute("data-state"));
    expect(await status.textContent()).toMatch(/^WebGPU: (unavailable|declined)\b.* — \S/);
  });

  it("compares every backend, including wasm on two Web Workers", async () => {
    await page.click("#speed-all");
    await page.waitForSelector("body[data-compared='true']", { timeout: 120_000 });
    const table = await page.textContent("[data-testid=speed-table]");
    for (const mode of ["js-f32", "reference-f64", "threads2"]) expect(table).toContain(mode);
    // webgpu has a row too: its timings, or the reason it cannot run in this browser.
    expect(table).toMatch(/webgpu(webgpu \(|unavailable\S)/);
    await page.locator("#speed").screenshot({ path: `${shots}demo-speed.png` });
    expect(consoleErrors).toEqual([]);
  });

  it("shows the RopekitError of a bad config instead of a blank page", async () => {
    await page.fill(
      "[data-testid=config]",
      JSON.stringify({ hidden_size: 64, num_attention_heads: 4, rope_scaling: { rope_type: "linear" } }),
    );
    await page.click("[data-testid=config-apply]");
    const error = page.locator("[data-testid=config-error]");
    await error.waitFor({ state: "visible" });
    expect(await error.textContent()).toContain("MISSING_CONFIG_FIELD");
    expect(await error.textContent()).toContain("rope_scaling.factor");
    await page.locator("#frequencies").screenshot({ path: `${shots}demo-bad-config.png` });
    // Opening a config.json file works the same way.
    await page.setInputFiles("#config-file", {
      name: "config.json",
      mimeType: "application/json",
      buffer: Buffer.from(JSON.stringify(DEFAULT_CONFIG)),
    });
    await error.waitFor({ state: "hidden" });
    expect(Number(await page.textContent("[data-testid=attention-scale]"))).toBeCloseTo(
      1 + 0.1 * Math.log(4),
      12,
    );
    // The other panels are still there.
    expect(await page.locator("#rotation .plot svg").count()).toBeGreaterThan(0);
  });
});

// The same built demo in a Chromium with WebGPU (--enable-unsafe-webgpu: SwiftShader here, a software
// adapter): the automatic pick declines webgpu and says so, naming the adapter; ?backend=webgpu runs
// every panel on it.
describe.skipIf(!hasChromium)("demo in headless Chromium with WebGPU", () => {
  let gpuBrowser: Browser;
  afterAll(async () => {
    await gpuBrowser?.close();
  });

  it("declines webgpu on a software adapter with the reason, and runs it when asked", async () => {
    gpuBrowser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", ...CHROMIUM_FLAGS],
    });
    const gpuPage = await gpuBrowser.newPage({ viewport: { width: 1280, height: 2000 } });
    const errors: string[] = [];
    gpuPage.on("pageerror", (e) => errors.push(String(e)));
    await gpuPage.goto(url);
    await gpuPage.waitForSelector("body[data-ready='true']", { timeout: 90_000 });
    const status = gpuPage.locator("[data-testid=webgpu-info]");
    const text = (await status.textContent()) ?? "";
    console.info(`[demo] ${text}`);
    if ((await status.getAttribute("data-state")) === "picked") {
      // A Chromium on a machine with a GPU: webgpu is taken, and the header names it.
      expect(await gpuPage.getAttribute("[data-testid=backend-info]", "data-backend")).toBe("webgpu");
    } else {
      expect(await status.getAttribute("data-state")).toBe("declined");
      expect(text).toMatch(/swiftshader|llvmpipe|fallback/i);
      expect(await gpuPage.getAttribute("[data-testid=backend-info]", "data-backend")).toBe("wasm");
    }
    await gpuPage.goto(`${url}?backend=webgpu`);
    await gpuPage.waitForSelector("body[data-ready='true']", { timeout: 120_000 });
    expect(await gpuPage.getAttribute("[data-testid=backend-info]", "data-backend")).toBe("webgpu");
    expect(await gpuPage.textContent("[data-testid=backend-info]")).toMatch(/webgpu \(/);
    for (const panel of ["rotation", "relative", "attention", "speed"]) {
      const drawn = await gpuPage
        .locator(`#${panel} .plot`)
        .evaluate((el) => el.querySelectorAll("svg *, td").length);
      expect(drawn, `panel ${panel} is empty on webgpu`).toBeGreaterThan(3);
    }
    await gpuPage.screenshot({ path: `${shots}demo-webgpu.png`, fullPage: true });
    expect(errors).toEqual([]);
  });
});
