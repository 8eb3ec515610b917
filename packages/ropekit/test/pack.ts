// Packs the workspace packages with pnpm (which rewrites workspace: ranges to versions), as a user
// would get them from the registry. Shared by the consumer and external-backend tests.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const packagesDir = resolve(import.meta.dirname, "../..");

/** Runs a command, returning its stdout; throws with stderr on failure. */
export function run(command: string, args: string[], cwd: string, timeout = 300_000): string {
  return execFileSync(command, args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "true" },
    timeout,
  });
}

/** pnpm as the user has it: on PATH when run through `npx pnpm …`, else fetched by npx. */
export function pnpm(args: string[], cwd: string): string {
  try {
    return run("pnpm", args, cwd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    return run("npx", ["-y", "pnpm@10.34.9", ...args], cwd);
  }
}

/** Packs core, the backends and ropekit into `dir`; returns the tarball paths. */
export function packPublished(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  for (const pkg of ["core", "backend-js", "backend-wasm", "backend-webgpu", "ropekit"])
    pnpm(["pack", "--pack-destination", dir], join(packagesDir, pkg));
  return readdirSync(dir).map((f) => join(dir, f));
}

/**
 * A fresh temporary folder with the packed packages (`tarballs/`) and an ESM project (`app/`) that
 * `npm install`s them with `extra` packages, as a user would.
 */
export function installInFreshApp(
  prefix: string,
  name: string,
  extra: readonly string[],
  timeout?: number,
): { dir: string; app: string; tarballs: string[] } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const tarballs = packPublished(join(dir, "tarballs"));
  const app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs, ...extra], app, timeout);
  return { dir, app, tarballs };
}
