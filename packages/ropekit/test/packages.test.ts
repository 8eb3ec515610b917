// The published tarballs as npm would get them: each package packed with pnpm (workspace: ranges
// rewritten), then checked for what a user sees on the registry — README and LICENSE, repository metadata,
// fixtures only once and only under the testing entry — and linted with publint and
// @arethetypeswrong/cli (attw). The packages are ESM-only with engines >=20.19 (require(esm) works from
// Node 20.19 on), so attw runs with its "esm-only" profile: it leaves out the node10 resolution (no
// `exports` support) and node16-from-CJS (a `require` resolving to ESM, which is what ESM-only means);
// every other problem fails this test.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pnpm, run } from "./pack.js";

const root = resolve(import.meta.dirname, "../../..");
const published = ["core", "backend-js", "backend-wasm", "backend-gpujs", "backend-webgpu", "ropekit"];
const bin = (name: string) => resolve(import.meta.dirname, "../node_modules/.bin", name);

let dir: string;
const tarballs = new Map<string, string>();

/** Runs a checker; returns its exit status and everything it printed. */
function check(command: string, args: string[]): { status: number; output: string } {
  try {
    const output = execFileSync(command, args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      timeout: 120_000,
    });
    return { status: 0, output };
  } catch (error) {
    const e = error as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

function files(tarball: string): string[] {
  return run("tar", ["-tzf", tarball], root)
    .split("\n")
    .filter((f) => f !== "")
    .map((f) => f.replace(/^package\//, ""));
}

function entry(tarball: string, path: string): string {
  return run("tar", ["-xzOf", tarball, `package/${path}`], root);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ropekit-packages-"));
  for (const pkg of published) {
    const before = new Set(readdirSync(dir));
    pnpm(["pack", "--pack-destination", dir], join(root, "packages", pkg));
    const added = readdirSync(dir).filter((f) => !before.has(f));
    expect(added).toHaveLength(1);
    tarballs.set(pkg, join(dir, added[0] as string));
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(published)("the published %s tarball", (pkg) => {
  const tarball = () => tarballs.get(pkg) as string;

  it("has a README and the repository's LICENSE", () => {
    const list = files(tarball());
    expect(list).toContain("README.md");
    expect(list).toContain("LICENSE");
    expect(entry(tarball(), "LICENSE")).toBe(readFileSync(join(root, "LICENSE"), "utf8"));
    expect(entry(tarball(), "README.md")).toMatch(/^# /);
  });

  it("names its repository, homepage, bug tracker, keywords, license and minimum Node", () => {
    const manifest = JSON.parse(entry(tarball(), "package.json")) as Record<string, unknown>;
    expect(manifest.repository).toEqual({
      type: "git",
      url: "git+https://github.com/ropekit/ropekit.git",
      directory: `packages/${pkg}`,
    });
    expect(manifest.homepage).toMatch(/^https:\/\/github\.com\/ropekit\/ropekit\b/);
    expect(manifest.bugs).toEqual({ url: "https://github.com/ropekit/ropekit/issues" });
    expect((manifest.keywords as string[]).length).toBeGreaterThan(2);
    expect(manifest.license).toBe("MIT");
    expect(manifest.engines).toEqual({ node: ">=20.19" });
    // pnpm rewrote every workspace: range; a leftover one would not install from the registry.
    expect(JSON.stringify(manifest)).not.toMatch(/workspace:/);
  });

  it("is clean under publint --strict (suggestions included)", () => {
    const { status, output } = check(bin("publint"), ["run", "--strict", "--level", "suggestion", tarball()]);
    console.log(`publint ${pkg}: ${output.trim().split("\n").at(-1)}`);
    expect(output).toMatch(/All good!/);
    expect(status, output).toBe(0);
  });

  it("is clean under attw (esm-only profile)", () => {
    const { status, output } = check(bin("attw"), [
      tarball(),
      "--profile",
      "esm-only",
      "--format",
      "table-flipped",
      "--no-color",
      "--no-emoji",
    ]);
    console.log(`attw ${pkg}: ${status === 0 ? "no problems (esm-only profile)" : output}`);
    expect(status, output).toBe(0);
  });
});

describe("@ropekit/core's fixtures", () => {
  it("ship once, under dist/testing (the testing entry), and no generator scripts", () => {
    const list = files(tarballs.get("core") as string);
    const fixtures = list.filter((f) => f.endsWith(".json") && f !== "package.json");
    expect(fixtures.length).toBeGreaterThan(0);
    for (const f of fixtures) expect(f).toMatch(/^dist\/testing\//);
    expect(list.filter((f) => f.endsWith("/golden.json"))).toEqual(["dist/testing/golden/golden.json"]);
    expect(list.filter((f) => f.startsWith("scripts/"))).toEqual([]);
  });
});
