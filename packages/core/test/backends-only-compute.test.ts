// Contract v2: core plans and validates every call once; a backend package only computes. So no backend
// source may import core's planning or validation helpers — if one does, it is re-validating (or worse,
// validating differently) what core already checked. (A backend still validates its own creation
// options, e.g. a thread count, with checkOptions, and may format values for those messages with describeValue.)
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const packages = fileURLToPath(new URL("../../", import.meta.url));
const FORBIDDEN =
  /^(plan[A-Z]\w*|check(?!Options$)\w+|require\w+|validate\w+|resolvePositions|positionAt|headsDims|embeddingDims|tableDims|tableRows|RopeTableCache|fusedRopePositions|repairAttentionRows|ropeTable|sinusoidalReference|applyRopeReference|attentionReference)$/;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sources(path) : /\.(ts|mts|js|mjs)$/.test(entry) ? [path] : [];
  });
}

const backends = readdirSync(packages).filter((p) => p.startsWith("backend-"));

it("finds the backend packages", () => {
  expect(backends).toEqual(expect.arrayContaining(["backend-js", "backend-wasm", "backend-gpujs"]));
});

for (const backend of backends) {
  it(`${backend} imports no planning or validation helper from @ropekit/core`, () => {
    const offending: string[] = [];
    for (const file of sources(join(packages, backend, "src"))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"@ropekit\/core"/g)) {
        for (const raw of (m[1] as string).split(",")) {
          const name =
            raw
              .replace(/^\s*type\s+/, "")
              .split(/\s+as\s+/)[0]
              ?.trim() ?? "";
          if (FORBIDDEN.test(name)) offending.push(`${file.slice(packages.length)}: ${name}`);
        }
      }
    }
    expect(offending).toEqual([]);
  });
}
