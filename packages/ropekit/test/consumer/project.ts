// One temporary project for the whole consumer matrix: the packed tarballs plus the bundlers (pinned),
// installed once with plain npm, as a user would.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { installInFreshApp, pnpm, run } from "../pack.js";

const PACKAGES = resolve(import.meta.dirname, "../../..");

/** The consumer tools, pinned: a new major is a deliberate change here, not a surprise in CI. */
export const TOOLS = {
  vite: "8.3.8",
  webpack: "5.113.0",
  esbuild: "0.28.2",
  rollup: "4.68.8",
  "@rollup/plugin-node-resolve": "16.0.3",
  typescript: "5.9.3",
  "playwright-core": "1.65.1",
} as const;

/** Bun and Deno, fetched by npx when the matrix runs them. */
export const RUNTIMES = { bun: "1.4.5", deno: "2.9.6" } as const;

/** The project: its directory, the tarballs, and `load(tool)` to import a tool installed in it. */
export interface Project {
  readonly dir: string;
  readonly app: string;
  readonly tarballs: readonly string[];
  load<T>(name: keyof typeof TOOLS | "@rollup/plugin-node-resolve"): Promise<T>;
}

/** Packs the packages and installs them with the tools into a fresh project (one npm install). */
export function createProject(prefix: string): Project {
  const specs = Object.entries(TOOLS).map(([name, version]) => `${name}@${version}`);
  const { dir, app, tarballs } = installInFreshApp(prefix, "consumer", specs, 600_000);
  // Imports resolved from the project (where the tools are), not from this workspace.
  writeFileSync(join(app, "tools.mjs"), "export const load = (name) => import(name);\n");
  const tools = import(/* @vite-ignore */ pathToFileURL(join(app, "tools.mjs")).href) as Promise<{
    load: (name: string) => Promise<unknown>;
  }>;
  return {
    dir,
    app,
    tarballs,
    load: async <T>(name: string) => (await (await tools).load(name)) as T,
  };
}

/**
 * Packs another workspace package (e.g. backend-gpujs) and adds it to the project. Scripts are skipped:
 * gpu.js's optional `gl` (headless-gl, a native build of minutes) is for Node, not for a browser bundle.
 */
export function addPackage(project: Project, name: string): void {
  const dir = join(project.dir, "extra");
  mkdirSync(dir, { recursive: true });
  pnpm(["pack", "--pack-destination", dir], join(PACKAGES, name));
  const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz") && f.includes(name));
  if (!tarball) throw new Error(`pnpm pack made no tarball for ${name}`);
  run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--loglevel=error", "--ignore-scripts", join(dir, tarball)],
    project.app,
    600_000,
  );
}
