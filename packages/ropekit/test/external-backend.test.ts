// A backend written outside this repository plugs in: a fresh project gets the packed @ropekit/core and
// ropekit from npm-style tarballs plus vitest, a small backend fixture and a test file, and runs the
// exported conformance suite and the registry checks there.
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { afterAll, expect, it } from "vitest";
import { installInFreshApp, run } from "./pack.js";

let dir: string | undefined;
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("runs the exported conformance suite and the registry checks in a fresh project", () => {
  let app: string;
  ({ dir, app } = installInFreshApp("ropekit-external-", "external-backend", [
    "vitest@4.1.12",
    "fast-check@4.11.0",
  ]));
  for (const f of ["backend.mjs", "external.test.mjs"]) {
    copyFileSync(fileURLToPath(new URL(`./fixtures/external-backend/${f}`, import.meta.url)), join(app, f));
  }
  let output: string;
  try {
    output = run(
      process.execPath,
      [join(app, "node_modules/vitest/vitest.mjs"), "run", "--root", app, "--reporter", "dot"],
      app,
    );
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    throw new Error(`the external project's tests failed:\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
  const plain = stripVTControlCharacters(output);
  const passed = Number(/Tests\s+(\d+) passed/.exec(plain)?.[1] ?? 0);
  expect(plain).not.toMatch(/failed/);
  expect(passed).toBeGreaterThan(200); // the conformance and reliability suites plus the two registry checks
});
