// This package is the template of `pnpm create-backend <name>`: the script copies it with every "example"
// renamed, so the template users get is the package CI tests. This test generates one and checks the names.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const here = fileURLToPath(new URL("..", import.meta.url));
const script = fileURLToPath(new URL("../../../scripts/create-backend.mjs", import.meta.url));

function files(dir: string, skip: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (skip(path)) continue;
    if (statSync(path).isDirectory()) out.push(...files(path, skip));
    else out.push(path);
  }
  return out;
}

it("generates this package under a new name, with no trace of the old one", () => {
  const dir = mkdtempSync(join(tmpdir(), "ropekit-template-"));
  try {
    const out = join(dir, "backend-my-gpu");
    execFileSync(process.execPath, [script, "my-gpu", "--out", out], { encoding: "utf8" });
    const generated = files(out, () => false)
      .map((f) => relative(out, f))
      .sort();
    const kept = files(here, (p) => /node_modules|dist|\.turbo|template\.test\.ts$/.test(p))
      .map((f) => relative(here, f))
      .sort();
    expect(generated).toEqual(kept);
    const text = (f: string) => readFileSync(join(out, f), "utf8");
    for (const f of generated) expect(text(f), f).not.toMatch(/example/i);
    expect(JSON.parse(text("package.json")).name).toBe("@ropekit/backend-my-gpu");
    expect(text("src/index.ts")).toContain("export function createMyGpuBackend(): Backend");
    expect(text("src/index.ts")).toContain("export const myGpuRegistration: BackendRegistration");
    expect(text("src/index.ts")).toContain('name: "my-gpu"');
    expect(text("test/conformance.test.ts")).toContain(
      'import { createMyGpuBackend } from "../src/index.js"',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("refuses bad names and existing folders", () => {
  const run = (args: string[]) => {
    try {
      execFileSync(process.execPath, [script, ...args], { encoding: "utf8", stdio: "pipe" });
      return 0;
    } catch (error) {
      return (error as { status: number }).status;
    }
  };
  expect(run(["Bad_Name"])).toBe(2);
  expect(run(["example", "--out", here])).toBe(1);
});
