// Builds the probe page with each bundler as a user would configure it: nothing ropekit-specific, the
// bundler's defaults (production mode, minified where that is the default). Each returns the directory
// to serve, the files it emitted and the warnings it printed.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { Project } from "./project.js";
import { PROBE_PAGE } from "./probe.js";

/** A built page. */
export interface Built {
  readonly dir: string;
  readonly files: readonly string[];
  readonly warnings: readonly string[];
}

const HTML = (script: string) =>
  `<!doctype html><meta charset="utf-8"><title>ropekit consumer</title><link rel="icon" href="data:,">${script}\n`;

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** The page's sources: app/pages/<name>/{index.html, main.js}. */
export function pageSources(project: Project, name: string, script = PROBE_PAGE): string {
  const dir = join(project.app, "pages", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "main.js"), script);
  writeFileSync(join(dir, "index.html"), HTML('<script type="module" src="./main.js"></script>'));
  return dir;
}

function outDir(project: Project, name: string): string {
  const dir = join(project.app, "out", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "index.html"), HTML('<script type="module" src="./main.js"></script>'));
  return dir;
}

interface ViteLogger {
  info(m: string): void;
  warn(m: string): void;
  warnOnce(m: string): void;
  error(m: string): void;
  clearScreen(): void;
  hasErrorLogged(): boolean;
  hasWarned: boolean;
}
interface Vite {
  build(config: object): Promise<unknown>;
  createServer(config: object): Promise<{
    listen(): Promise<unknown>;
    close(): Promise<void>;
    resolvedUrls: { local: string[] } | null;
  }>;
}

function viteLogger(warnings: string[]): ViteLogger {
  return {
    info: () => {},
    warn: (m) => warnings.push(m),
    warnOnce: (m) => warnings.push(m),
    error: (m) => warnings.push(`error: ${m}`),
    clearScreen: () => {},
    hasErrorLogged: () => false,
    hasWarned: false,
  };
}

/** `vite build` with the defaults (minified). */
export async function viteBuild(project: Project, name = "vite-build", script = PROBE_PAGE): Promise<Built> {
  const vite = await project.load<Vite>("vite");
  const root = pageSources(project, name, script);
  const dir = join(project.app, "out", name);
  const warnings: string[] = [];
  await vite.build({
    root,
    configFile: false,
    customLogger: viteLogger(warnings),
    build: { outDir: dir, emptyOutDir: true },
  });
  return { dir, files: listFiles(dir), warnings };
}

/** `vite` (the dev server, dependency pre-bundling on): the page's URL. */
export async function viteDev(
  project: Project,
  headers: Record<string, string>,
): Promise<{ url: string; warnings: string[]; close(): Promise<void> }> {
  const vite = await project.load<Vite>("vite");
  const root = pageSources(project, "vite-dev");
  const warnings: string[] = [];
  const server = await vite.createServer({
    root,
    configFile: false,
    customLogger: viteLogger(warnings),
    server: { host: "127.0.0.1", port: 0, headers },
  });
  await server.listen();
  return { url: server.resolvedUrls?.local[0] ?? "", warnings, close: () => server.close() };
}

interface WebpackStats {
  hasErrors(): boolean;
  toJson(o: object): { warnings?: { message: string }[]; errors?: { message: string }[] };
}
type Webpack = (config: object, cb: (err: Error | null, stats?: WebpackStats) => void) => void;

/** webpack 5, production mode, target web. */
export async function webpack(project: Project): Promise<Built> {
  const mod = await project.load<{ default: Webpack }>("webpack");
  const src = pageSources(project, "webpack");
  const dir = outDir(project, "webpack");
  const stats = await new Promise<WebpackStats>((resolve, reject) =>
    mod.default(
      {
        mode: "production",
        context: project.app,
        entry: join(src, "main.js"),
        output: { path: dir, filename: "main.js" },
        target: "web",
      },
      (err, s) => (err || !s ? reject(err ?? new Error("no stats")) : resolve(s)),
    ),
  );
  const json = stats.toJson({ all: false, warnings: true, errors: true });
  if (stats.hasErrors()) throw new Error(`webpack: ${json.errors?.map((e) => e.message).join("\n")}`);
  return { dir, files: listFiles(dir), warnings: (json.warnings ?? []).map((w) => w.message) };
}

interface Esbuild {
  build(o: object): Promise<{ warnings: { text: string }[] }>;
}

/** esbuild: bundle, ESM, platform browser, minified. */
export async function esbuild(project: Project): Promise<Built> {
  const mod = await project.load<Esbuild>("esbuild");
  const src = pageSources(project, "esbuild");
  const dir = outDir(project, "esbuild");
  const result = await mod.build({
    entryPoints: [join(src, "main.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    minify: true,
    outfile: join(dir, "main.js"),
    logLevel: "silent",
  });
  return { dir, files: listFiles(dir), warnings: result.warnings.map((w) => w.text) };
}

interface Rollup {
  rollup(o: object): Promise<{ write(o: object): Promise<unknown>; close(): Promise<void> }>;
}

/** Rollup with @rollup/plugin-node-resolve (browser: true), ES output. */
export async function rollup(project: Project): Promise<Built> {
  const mod = await project.load<Rollup>("rollup");
  const resolve = await project.load<{ default: (o: object) => object }>("@rollup/plugin-node-resolve");
  const src = pageSources(project, "rollup");
  const dir = outDir(project, "rollup");
  const warnings: string[] = [];
  const bundle = await mod.rollup({
    input: join(src, "main.js"),
    plugins: [resolve.default({ browser: true })],
    onwarn: (w: { message: string }) => warnings.push(w.message),
  });
  await bundle.write({ dir, format: "es", entryFileNames: "main.js" });
  await bundle.close();
  return { dir, files: listFiles(dir), warnings };
}

/**
 * A page that loads the packages' files as a CDN serves them (another origin, no bundler): an import map
 * names each package's entry, built from the installed package.json files, as a user would write it.
 */
export function cdnPage(project: Project, cdn: string): string {
  const imports: Record<string, string> = {};
  const scopes: Record<string, Record<string, string>> = {};
  const scoped = readdirSync(join(project.app, "node_modules", "@ropekit")).map((n) => `@ropekit/${n}`);
  for (const name of ["ropekit", ...scoped]) {
    const pkg = JSON.parse(readFileSync(join(project.app, "node_modules", name, "package.json"), "utf8")) as {
      exports: Record<string, { default?: string } | string>;
      imports?: Record<string, { default: string }>;
    };
    const base = `${cdn}${name}/`;
    for (const [sub, target] of Object.entries(pkg.exports)) {
      const file = typeof target === "string" ? target : target.default;
      if (file) imports[`${name}${sub.slice(1)}`] = new URL(file, base).href;
    }
    // Package-internal `#…` imports: the browser (default) condition.
    const internal = Object.entries(pkg.imports ?? {});
    if (internal.length > 0)
      scopes[base] = Object.fromEntries(internal.map(([key, t]) => [key, new URL(t.default, base).href]));
  }
  const dir = join(project.app, "out", "cdn");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "index.html"),
    HTML(
      `<script type="importmap">${JSON.stringify({ imports, scopes })}</script>\n<script type="module">\n${PROBE_PAGE}</script>`,
    ),
  );
  return dir;
}
