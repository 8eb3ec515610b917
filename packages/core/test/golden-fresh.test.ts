// The committed golden vectors must be what the current reference computes: a change to the reference
// or to a case fails here until `pnpm golden` regenerates them.
import { describe, expect, it } from "vitest";
import { OP_CASES, goldenVector } from "../src/cases/index.js";
import { goldenVectors, maxRelativeError } from "../src/testing/index.js";

describe("golden vectors", () => {
  const committed = goldenVectors();
  it("one per case, no strays", () => {
    expect([...committed.keys()].sort()).toEqual(OP_CASES.map((c) => c.id).sort());
  });
  for (const c of OP_CASES) {
    it(`${c.id} is fresh`, () => {
      const now = goldenVector(c);
      const stored = committed.get(c.id);
      expect(stored?.shape).toEqual(now.shape);
      expect(stored?.input).toEqual(now.input);
      expect(maxRelativeError(stored?.expected ?? [], now.expected)).toBeLessThanOrEqual(1e-11);
    });
  }
  it("cover the variants the contract promises", () => {
    const rope = OP_CASES.filter((c) => c.op === "applyRope");
    const kinds = new Set(rope.map((c) => c.spec.scaling.type));
    expect([...kinds].sort()).toEqual(["dynamic", "linear", "llama3", "longrope", "none", "yarn"]);
    expect(new Set(rope.map((c) => c.spec.pairing)).size).toBe(2);
    expect(new Set(rope.map((c) => c.layout)).size).toBe(2);
    expect(rope.some((c) => c.spec.rotaryDim < c.spec.headDim)).toBe(true);
    expect(rope.some((c) => c.batch === 3 && c.seq === 17 && c.heads === 5 && c.spec.headDim === 10)).toBe(
      true,
    );
    expect(rope.some((c) => c.batch === 3 && c.seq === 17 && c.heads === 5 && c.spec.headDim === 6)).toBe(
      true,
    );
    const maxPos = (c: (typeof rope)[number]) =>
      typeof c.positions === "number"
        ? c.positions + c.seq - 1
        : Math.max(0, ...(c.positions ?? [c.seq - 1]));
    expect(Math.max(...rope.map(maxPos))).toBeGreaterThan(100000);
  });
});
