// Packs the workspace packages with pnpm (which rewrites workspace: ranges to versions), as a user
// would get them from the registry. Shared by the consumer and external-backend tests.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
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
function pnpm(args: string[], cwd: string): string {
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
