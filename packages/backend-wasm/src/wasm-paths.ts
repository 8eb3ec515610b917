import { RopekitError } from "@ropekit/core";
import { platform } from "#platform";
import type { WasmBase } from "./wasm-module.js";

/** Where a `wasmPaths` setting came from, for error messages. */
type Source = "wasmPaths" | "globalThis.ROPEKIT_WASM_PATHS" | "process.env.ROPEKIT_WASM_PATHS";

function asBase(value: unknown, source: Source): WasmBase {
  let url: URL | undefined;
  try {
    if (value instanceof URL) url = new URL(value.href);
    else if (typeof value === "string" && value.trim() !== "") url = platform.resolveLocation(value.trim());
  } catch {
    url = undefined;
  }
  if (!url) {
    throw new RopekitError(
      "INVALID_OPTION",
      `${source} must be a URL or a directory (where ropekit.simd.wasm and the other variants are), got ${
        typeof value === "string" ? JSON.stringify(value) : typeof value
      }`,
      source,
    );
  }
  // A directory: "https://cdn/x" means "https://cdn/x/ropekit.simd.wasm", not "https://cdn/ropekit.simd.wasm".
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return { url, source };
}

/**
 * Where the kernels load from: the `wasmPaths` option, else `globalThis.ROPEKIT_WASM_PATHS`, else the
 * environment variable `ROPEKIT_WASM_PATHS`; with none of them, the copies embedded in the JavaScript
 * (zero configuration in every bundler and runtime). Throws INVALID_OPTION for a value that is no location.
 */
export function wasmBase(option: unknown): WasmBase {
  if (option !== undefined) return asBase(option, "wasmPaths");
  const global = (globalThis as { ROPEKIT_WASM_PATHS?: unknown }).ROPEKIT_WASM_PATHS;
  if (global !== undefined) return asBase(global, "globalThis.ROPEKIT_WASM_PATHS");
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[
    "ROPEKIT_WASM_PATHS"
  ];
  if (env) return asBase(env, "process.env.ROPEKIT_WASM_PATHS");
  return undefined;
}
