// The READMEs' code blocks are tests. Every ```ts / ```js block of the root README and of each published
// package's README is written to a module in a temporary project whose node_modules link to the built
// packages, typechecked together with `tsc --strict` (module nodenext, as a user's ESM project), and — unless
// its info string says `no-run` — run with Node, in a directory holding a Llama-style `config.json`.
// Conventions (CONTRIBUTING.md, "README code blocks"):
// - "```ts no-run": typechecked, not run (needs a GPU, a checkpoint file, a test runner, minutes of CPU);
// - an HTML comment `<!-- readme-prelude: … -->` right before a block is prepended to it, invisible on
//   GitHub and npm: declarations a fragment uses (`declare const q: HeadsTensor;`) or setup it needs.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HF_CONFIGS } from "@ropekit/core/cases";

const root = resolve(import.meta.dirname, "../../..");
const ropekitDir = resolve(import.meta.dirname, "..");
const readmes = [
  "README.md",
  ...["ropekit", "core", "backend-js", "backend-wasm", "backend-gpujs", "backend-webgpu"].map(
    (p) => `packages/${p}/README.md`,
  ),
];

/** One fenced block: where it is, its code (prelude first), and whether it runs. */
interface Block {
  readonly id: string;
  readonly where: string;
  readonly language: "ts" | "js";
  readonly code: string;
  readonly run: boolean;
}

/** The ts/js blocks of a markdown file, with the prelude comment before each, if any. */
export function extractBlocks(markdown: string, file: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  let prelude = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const comment = /^<!--\s*readme-prelude:([\s\S]*?)-->\s*$/.exec(line);
    if (comment) {
      prelude = (comment[1] as string).trim();
      continue;
    }
    const fence = /^```(\S*)\s*(.*)$/.exec(line);
    if (!fence) {
      if (line.trim() !== "") prelude = "";
      continue;
    }
    const lang = fence[1] as string;
    const info = fence[2] as string;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] as string).startsWith("```"); i++) body.push(lines[i] as string);
    const language =
      lang === "ts" || lang === "typescript"
        ? "ts"
        : lang === "js" || lang === "javascript"
          ? "js"
          : undefined;
    if (language) {
      const where = `${file}:${start + 1}`;
      blocks.push({
        id: `${file.replace(/[^a-z0-9]+/gi, "_")}_${start + 1}`,
        where,
        language,
        code: `${prelude}\n${body.join("\n")}`,
        run: !/\bno-run\b/.test(info),
      });
    }
    prelude = "";
  }
  return blocks;
}

const blocks = readmes.flatMap((f) => extractBlocks(readFileSync(join(root, f), "utf8"), f));
let dir: string;
let typecheck = "";

/** node_modules of the temporary project: the workspace packages a README imports, and what they need. */
function link(name: string, target: string): void {
  const at = join(dir, "node_modules", name);
  mkdirSync(resolve(at, ".."), { recursive: true });
  symlinkSync(target, at, "dir");
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ropekit-readme-"));
  link("ropekit", ropekitDir);
  for (const p of ["core", "backend-js", "backend-wasm", "backend-gpujs", "backend-webgpu"])
    link(`@ropekit/${p}`, join(root, "packages", p));
  link("@types/node", join(ropekitDir, "node_modules/@types/node"));
  link("onnxruntime-common", join(ropekitDir, "node_modules/onnxruntime-common"));
  link("vitest", join(ropekitDir, "node_modules/vitest"));
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "readme-blocks", private: true, type: "module" }),
  );
  // What the "Use" example reads: a Llama-3.1-8B-style config.json.
  writeFileSync(
    join(dir, "config.json"),
    // Llama-3.1-8B's RoPE fields: the case table's llama31 config at the real sizes.
    JSON.stringify({
      ...HF_CONFIGS.llama31,
      hidden_size: 4096,
      num_attention_heads: 32,
      num_key_value_heads: 8,
    }),
  );
  for (const b of blocks) writeFileSync(join(dir, `${b.id}.${b.language}`), `${b.code}\nexport {};\n`);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: "es2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        types: ["node"],
        allowJs: true,
        checkJs: true,
        skipLibCheck: true,
        outDir: "out",
        rootDir: ".",
      },
      include: ["*.ts", "*.js"],
    }),
  );
  try {
    execFileSync(join(ropekitDir, "node_modules/.bin/tsc"), ["-p", "."], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 240_000,
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    typecheck = `${e.stdout ?? ""}${e.stderr ?? ""}`;
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("README code blocks", () => {
  it("finds the blocks (the root README's and every package's)", () => {
    expect(blocks.length).toBeGreaterThan(10);
    for (const f of readmes.slice(1)) expect(blocks.some((b) => b.where.startsWith(f))).toBe(true);
  });

  it("typechecking reports nothing outside the blocks (configuration, resolution)", () => {
    const blockFiles = new Set(blocks.map((b) => `${b.id}.${b.language}`));
    const other = typecheck
      .split("\n")
      .filter((l) => /error TS/.test(l) && !blockFiles.has(l.split("(")[0] ?? ""));
    expect(other).toEqual([]);
  });

  it.each(blocks.map((b) => [b.where, b] as const))("%s typechecks under tsc --strict", (_, b) => {
    const errors = typecheck.split("\n").filter((l) => l.startsWith(`${b.id}.${b.language}(`));
    expect(errors.map((l) => l.replace(b.id, b.where))).toEqual([]);
  });

  it.each(blocks.filter((b) => b.run).map((b) => [b.where, b] as const))("%s runs", (_, b) => {
    expect(typecheck.split("\n").filter((l) => l.startsWith(`${b.id}.`))).toEqual([]);
    // Exits non-zero on a throw or a rejected top-level await; worker threads never keep it alive.
    execFileSync("node", [join("out", `${b.id}.js`)], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    });
  });
});
