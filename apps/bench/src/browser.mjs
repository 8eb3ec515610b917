// The browser half of the bench: the page in browser/ served by Vite (cross-origin isolated, so wasm
// threads work), driven in Debian's headless Chromium by playwright-core. One fresh browser context per
// (configuration, contender) pair; peak RSS is not measurable there and is left empty.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BROWSER_BACKENDS } from "@ropekit/benchmarks/grid";
import { chromium } from "playwright-core";
import { createServer } from "vite";
import { runAll } from "./runner.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// SwiftShader gives WebGL2 and (with the unsafe flag) WebGPU without a GPU; the rest keeps Chromium off
// the network of this closed machine.
const FLAGS = [
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--enable-unsafe-webgpu",
  "--enable-unsafe-swiftshader",
];
const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

/** Runs the browser contenders on `configs` (attention up to S = 4096); returns result rows. */
export async function runInBrowser(
  configs,
  { quick, log, onStart, onProgress, onResult, timeoutMs = 120_000, contenders = BROWSER_BACKENDS },
) {
  if (!existsSync(CHROMIUM)) {
    // Unavailable, not failed: one note for the run, not a failed row (see unavailable.mjs).
    log(`browser: ${CHROMIUM} not found — browser contenders not run`);
    return contenders.map((contender) => ({
      config: "browser",
      contender,
      status: "unavailable",
      message: `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`,
    }));
  }
  const server = await createServer({
    root: fileURLToPath(new URL("../browser", import.meta.url)),
    logLevel: "error",
    // No HMR: a dependency optimised mid-run would otherwise reload the page under a running pair.
    server: { host: "127.0.0.1", port: 0, headers: isolation, hmr: false },
    // backend-wasm finds its .wasm and worker next to its own module: keep it out of the pre-bundle.
    // onnxruntime-web loads its .wasm next to its module too; onnxruntime-node is Node's only.
    optimizeDeps: {
      exclude: ["@ropekit/backend-wasm", "onnxruntime-web", "onnxruntime-node", "webgpu"],
      // Pre-bundled up front: a dependency found while a pair runs makes Vite reload the page under it.
      include: [
        "@ropekit/backend-gpujs > gpu.js",
        "@ropekit/benchmarks > tinybench",
        "@ropekit/benchmarks > protobufjs",
      ],
    },
    worker: { format: "es" },
  });
  await server.listen();
  const url = server.resolvedUrls.local[0];
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    const eligible = configs.filter((c) => c.op !== "attention" || c.qLen <= 4096);
    const pairs = eligible.flatMap((config) => contenders.map((contender) => ({ config, contender })));
    return await runAll(pairs, {
      quick,
      timeoutMs,
      onStart,
      onProgress,
      onResult,
      // One fresh browser context per pair; a page that does not answer in time is a timeout.
      async runOne({ config, contender }) {
        const started = performance.now();
        const context = await browser.newContext();
        let result;
        try {
          const page = await context.newPage();
          await page.goto(url);
          await page.waitForFunction(() => typeof window.runBench === "function", null, { timeout: 60_000 });
          result = await Promise.race([
            page.evaluate(([c, n, q]) => window.runBench(c, n, q), [config, contender, quick]),
            new Promise((resolve) =>
              setTimeout(
                () => resolve({ status: "timeout", message: `no result within ${timeoutMs / 1000} s` }),
                timeoutMs,
              ),
            ),
          ]);
        } catch (error) {
          result = { status: "crashed", message: String(error.message).split("\n")[0].slice(0, 200) };
        } finally {
          await context.close().catch(() => {});
        }
        return { config: config.id, contender, ...result, wallMs: performance.now() - started };
      },
    });
  } finally {
    await browser.close();
    await server.close();
  }
}
