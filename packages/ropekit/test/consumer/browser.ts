// Serves built pages and loads them in Debian's headless Chromium (playwright-core from the consumer
// project, no browser download), collecting the probe's result, console errors and failed requests.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from "../../../../tools/chromium.mjs";
import type { ProbeResult } from "./probe.js";

/** Debian's Chromium (CHROMIUM_PATH overrides). */
export const CHROMIUM = CHROMIUM_PATH;
/** Without it the browser consumers cannot run: CI fails, elsewhere they are reported as not run. */
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

/** COOP/COEP: the page is crossOriginIsolated, so backend-wasm may use threads. */
export const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
} as const;

const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
};

/**
 * A static file server for `root`. `crossOrigin`: serve as a CDN would to another origin (CORS and
 * Cross-Origin-Resource-Policy headers); otherwise as the page's own origin, cross-origin isolated.
 */
export async function serve(
  root: string,
  crossOrigin = false,
): Promise<{ url: string; close(): Promise<void> }> {
  const headers: Record<string, string> = crossOrigin
    ? { "Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin" }
    : { ...ISOLATION };
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const file = join(root, path.endsWith("/") ? `${path}index.html` : path);
    readFile(file).then(
      (bytes) =>
        res
          .writeHead(200, { ...headers, "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" })
          .end(bytes),
      () => res.writeHead(404, headers).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What a page did: its probe result, console errors, and requests that failed (a 404 included). */
export interface PageRun<T = ProbeResult> {
  result: T;
  problems: string[];
  /** Every URL the page loaded. */
  loaded: string[];
}

interface Playwright {
  chromium: {
    launch(options: { executablePath: string; args: string[] }): Promise<Browser>;
  };
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Page {
  on(event: "console", f: (m: { type(): string; text(): string }) => void): void;
  on(event: "pageerror", f: (e: Error) => void): void;
  on(event: "response", f: (r: { status(): number; url(): string }) => void): void;
  on(
    event: "requestfailed",
    f: (r: { url(): string; failure(): { errorText: string } | null }) => void,
  ): void;
  goto(url: string): Promise<unknown>;
  waitForFunction(f: string, arg: undefined, options: { timeout: number }): Promise<unknown>;
  evaluate<T>(f: string): Promise<T>;
  close(): Promise<void>;
}

/** Launches Chromium; `open(url)` loads a page and waits for its probe. */
export async function launch(playwright: Playwright): Promise<{
  open<T = ProbeResult>(url: string, consoleErrorsAreFatal?: boolean): Promise<PageRun<T>>;
  close(): Promise<void>;
}> {
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    // WebGL2 on SwiftShader, for the gpu.js page (no GPU here).
    args: ["--headless", ...CHROMIUM_FLAGS],
  });
  return {
    async open<T>(url: string, consoleErrorsAreFatal = true) {
      const page = await browser.newPage();
      const problems: string[] = [];
      const loaded: string[] = [];
      // A page that fails (an unresolved import, an uncaught error) never sets its result: stop at once.
      let failed: (reason: Error) => void = () => {};
      const failure = new Promise<never>((_, reject) => {
        failed = reject;
      });
      failure.catch(() => {});
      const problem = (text: string, fatal: boolean) => {
        problems.push(text);
        if (fatal) failed(new Error(`${url}: ${problems.join("; ")}`));
      };
      page.on("console", (m) => {
        if (m.type() === "error") problem(`console: ${m.text()}`, consoleErrorsAreFatal);
      });
      page.on("pageerror", (e) => problem(`page error: ${e.message}`, true));
      page.on("response", (r) => {
        loaded.push(r.url());
        if (r.status() >= 400) problem(`HTTP ${r.status()} ${r.url()}`, false);
      });
      page.on("requestfailed", (r) => problem(`request failed: ${r.url()} ${r.failure()?.errorText}`, false));
      try {
        await page.goto(url);
        await Promise.race([
          page.waitForFunction("globalThis.__probe !== undefined", undefined, { timeout: 90_000 }),
          failure,
        ]);
        const result = await page.evaluate<T>("globalThis.__probe");
        return { result, problems, loaded };
      } finally {
        await page.close();
      }
    },
    close: () => browser.close(),
  };
}
