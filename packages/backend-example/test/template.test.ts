// This package is what `pnpm create-backend example` generates; this test regenerates it into a
// temporary folder and checks that nothing drifted, so the template CI proves is the one users get.
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

it("matches what create-backend generates today", () => {
  const dir = mkdtempSync(join(tmpdir(), "ropekit-template-"));
  try {
    const out = join(dir, "backend-example");
    execFileSync(process.execPath, [script, "example", "--out", out], { encoding: "utf8" });
    const generated = files(out, () => false)
      .map((f) => relative(out, f))
      .sort();
    const kept = files(here, (p) => /node_modules|dist|\.turbo|template\.test\.ts$/.test(p))
      .map((f) => relative(here, f))
      .sort();
    expect(kept).toEqual(generated);
    for (const f of generated)
      expect(readFileSync(join(here, f), "utf8"), f).toBe(readFileSync(join(out, f), "utf8"));
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
