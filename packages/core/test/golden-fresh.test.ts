// The committed golden vectors must be what the current reference computes: a change to the reference
// or to a case fails here until `pnpm golden` regenerates them.
import { describe, expect, it } from "vitest";
import { OP_CASES, OP_KINDS, goldenVector, kindGoldenVector } from "../src/cases/index.js";
import { goldenVectors, maxRelativeError } from "../src/testing/index.js";

describe("golden vectors", () => {
  const committed = goldenVectors();
  it("one per case, no strays", () => {
    const ids = [...OP_CASES, ...OP_KINDS.flatMap((k) => k.cases)].map((c) => c.id);
    expect([...committed.keys()].sort()).toEqual(ids.sort());
  });
  for (const kind of OP_KINDS) {
    for (const c of kind.cases) {
      it(`${c.id} is fresh`, () => {
        const now = kindGoldenVector(kind, c);
        const stored = committed.get(c.id);
        expect(stored?.shape).toEqual(now.shape);
        expect(stored?.inputs).toEqual(now.inputs);
        expect(maxRelativeError(stored?.expected ?? [], now.expected)).toBeLessThanOrEqual(1e-11);
      });
    }
  }
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

describe("attention cases", () => {
  const cases = OP_CASES.filter((c) => c.op === "attention");
  it("cover every option and the combinations that matter", () => {
    const has = (f: (c: (typeof cases)[number]) => boolean) => expect(cases.some(f)).toBe(true);
    has((c) => c.causal === true && c.kvHeads < c.qHeads && c.qLen < c.kvLen); // causal × GQA × decode
    has((c) => c.qLen === 1 && c.kvLen === 37);
    has((c) => c.qLen === 4 && c.kvLen === 37);
    has((c) => c.headDim === 80);
    has((c) => c.causal === "top-left");
    has(
      (c) =>
        c.mask === "padding" && c.window !== undefined && c.softcap !== undefined && c.rope !== undefined,
    );
    has((c) => c.mask === "additive");
    has((c) => c.mask === "masked-row");
    has((c) => c.alibi === true);
    has((c) => c.kvCapacity !== undefined);
    has((c) => (c.vHeadDim ?? c.headDim) !== c.headDim);
    has((c) => c.kvHeads === 1 && c.qHeads > 1); // MQA
    has((c) => c.qLen > 64 && c.kvLen > 64); // more than one tile each way
    has((c) => (c.kvLayout ?? c.layout) !== c.layout);
  });
});
