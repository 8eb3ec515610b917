// Where the kernels load from: embedded by default (no asset to find), or from a location the user
// gives (option, globalThis.ROPEKIT_WASM_PATHS, env ROPEKIT_WASM_PATHS). A location that fails says
// which URL and why (file system error, HTTP status, not wasm) — never "SIMD not validated".
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  RopekitError,
  applyRopeReference,
  maxRelativeError,
  pickBackend,
  registerBackend,
  ropeSpec,
  unregisterBackend,
} from "@ropekit/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createWasmBackend, isWasmSupported, wasmRegistration } from "../src/index.js";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const spec = ropeSpec({ headDim: 8 });
const input = () => ({
  data: Float32Array.from({ length: 16 }, (_, i) => Math.cos(i + 0.5)),
  shape: [1, 2, 1, 8] as const,
  layout: "bshd" as const,
});

/** Runs RoPE on a backend made with `options` and returns its error against the f64 reference. */
async function ropeError(options: Parameters<typeof createWasmBackend>[0]): Promise<number> {
  const backend = await createWasmBackend(options);
  try {
    const out = await backend.applyRope(input(), spec, { positions: 7 });
    return maxRelativeError(out.data, applyRopeReference(input(), spec, { positions: 7 }).data);
  } finally {
    backend.dispose();
  }
}

/** The RopekitError `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<RopekitError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RopekitError);
  return error as RopekitError;
}

let server: Server;
let origin: string;
beforeAll(async () => {
  // Serves dist/ under /assets/, HTML for /spa/* (a single-page app's fallback), 404 elsewhere.
  server = createServer((req, res) => {
    const path = req.url ?? "";
    if (path.startsWith("/assets/")) {
      import("node:fs/promises")
        .then((fs) => fs.readFile(`${dist}${path.slice("/assets/".length)}`))
        .then(
          (bytes) => res.writeHead(200, { "content-type": "application/wasm" }).end(bytes),
          () => res.writeHead(404).end(),
        );
    } else if (path.startsWith("/spa/")) {
      res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>app</title>");
    } else {
      res.writeHead(404, "Not Found").end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

afterEach(() => {
  delete (globalThis as { ROPEKIT_WASM_PATHS?: unknown }).ROPEKIT_WASM_PATHS;
  delete process.env["ROPEKIT_WASM_PATHS"];
});

describe("backend-wasm asset loading", () => {
  it("needs no configuration (embedded kernels) and detects SIMD without loading anything", async () => {
    expect(await isWasmSupported()).toBe(true);
    expect(await ropeError({})).toBeLessThan(1e-6);
  });

  it("loads from a wasmPaths directory: a path, a file: URL, an http URL, with or without the last slash", async () => {
    expect(await ropeError({ wasmPaths: dist })).toBeLessThan(1e-6);
    expect(await ropeError({ wasmPaths: dist.replace(/\/$/, "") })).toBeLessThan(1e-6);
    expect(await ropeError({ wasmPaths: pathToFileURL(dist) })).toBeLessThan(1e-6);
    expect(await ropeError({ wasmPaths: `${origin}/assets` })).toBeLessThan(1e-6);
    expect(await ropeError({ wasmPaths: `${origin}/assets/`, threads: 2 })).toBeLessThan(1e-6);
  });

  it("says which URL failed and the HTTP status", async () => {
    const error = await failure(createWasmBackend({ wasmPaths: `${origin}/missing/` }));
    expect(error.code).toBe("BACKEND_UNAVAILABLE");
    expect(error.message).toContain(`${origin}/missing/ropekit.simd.wasm`);
    expect(error.message).toContain("HTTP 404");
    expect(error.message).toContain("wasmPaths");
    expect(error.message).not.toMatch(/SIMD/);
  });

  it("says which file is missing and the file system error", async () => {
    const error = await failure(createWasmBackend({ wasmPaths: "/nonexistent/ropekit-assets" }));
    expect(error.code).toBe("BACKEND_UNAVAILABLE");
    expect(error.message).toContain("file:///nonexistent/ropekit-assets/ropekit.simd.wasm");
    expect(error.message).toContain("ENOENT");
  });

  it("says when the server answers with something that is not wasm (an app's HTML fallback)", async () => {
    const error = await failure(createWasmBackend({ wasmPaths: `${origin}/spa/` }));
    expect(error.message).toContain(`${origin}/spa/ropekit.simd.wasm`);
    expect(error.message).toContain("not a WebAssembly module");
    expect(error.message).toContain("<!doctype html>");
  });

  it("reads globalThis.ROPEKIT_WASM_PATHS, then the environment variable, and names the one that failed", async () => {
    process.env["ROPEKIT_WASM_PATHS"] = `${origin}/from-env/`;
    const fromEnv = await failure(createWasmBackend());
    expect(fromEnv.message).toContain(`${origin}/from-env/ropekit.simd.wasm`);
    expect(fromEnv.message).toContain("process.env.ROPEKIT_WASM_PATHS");

    (globalThis as { ROPEKIT_WASM_PATHS?: unknown }).ROPEKIT_WASM_PATHS = `${origin}/from-global/`;
    const fromGlobal = await failure(createWasmBackend());
    expect(fromGlobal.message).toContain(`${origin}/from-global/ropekit.simd.wasm`);
    expect(fromGlobal.message).toContain("globalThis.ROPEKIT_WASM_PATHS");

    // The option wins over both.
    expect(await ropeError({ wasmPaths: dist })).toBeLessThan(1e-6);
    (globalThis as { ROPEKIT_WASM_PATHS?: unknown }).ROPEKIT_WASM_PATHS = dist;
    expect(await ropeError({})).toBeLessThan(1e-6);
  });

  it("rejects a wasmPaths that is no location before loading anything", async () => {
    for (const bad of [42, "", "   ", {}]) {
      const error = await failure(createWasmBackend({ wasmPaths: bad as string }));
      expect(error.code).toBe("INVALID_OPTION");
      expect(error.message).toContain("wasmPaths");
    }
    (globalThis as { ROPEKIT_WASM_PATHS?: unknown }).ROPEKIT_WASM_PATHS = 7;
    expect((await failure(createWasmBackend())).message).toContain("globalThis.ROPEKIT_WASM_PATHS");
  });

  it("gives the registry the real reason as the skip reason", async () => {
    (globalThis as { ROPEKIT_WASM_PATHS?: unknown }).ROPEKIT_WASM_PATHS = `${origin}/gone/`;
    registerBackend({ ...wasmRegistration, name: "wasm-test-paths", priority: 1000 });
    try {
      // With only this backend registered, the pick fails and its message carries the skip reason.
      const reason = await pickBackend().then(
        (picked) => picked.skipped.find((s) => s.name === "wasm-test-paths")?.reason,
        (e: unknown) => String(e),
      );
      expect(reason).toContain(`${origin}/gone/ropekit.simd.wasm`);
      expect(reason).toContain("HTTP 404");
      expect(reason).not.toMatch(/SIMD/);
    } finally {
      unregisterBackend("wasm-test-paths");
    }
  });
});
