import { describe, expect, it } from "vitest";
import type { Backend } from "../backend/contract.js";
import type { GoldenVector } from "../cases/golden.js";
import { caseTensors } from "../cases/op-kind.js";
import { OP_KINDS } from "../cases/op-kinds.js";
import { maxRelativeError } from "../compare.js";
import type { FloatArray } from "../types.js";
import { snapshotInputs } from "./reliability/compare.js";

/** What the op-kind part of the suite needs from the main suite. */
export interface KindSuiteContext {
  backend: () => Backend;
  makeArray: () => (values: ArrayLike<number>) => FloatArray;
  tolerance: number;
  vector: (id: string) => GoldenVector | undefined;
}

/** Every case of every `OpKind`: the golden inputs through the backend, within tolerance, inputs untouched. */
export function describeKindConformance(ctx: KindSuiteContext): void {
  for (const kind of OP_KINDS) {
    describe(kind.op, () => {
      for (const c of kind.cases) {
        it(c.id, async () => {
          const v = ctx.vector(c.id);
          expect(v?.inputs, `no golden vector for ${c.id}: run pnpm golden`).toBeDefined();
          const inputs = kind.inputs(c);
          const stored = Object.fromEntries(
            Object.entries(inputs).map(([name, t]) => [
              name,
              { data: Float64Array.from(v?.inputs?.[name] ?? []), shape: t.shape },
            ]),
          );
          const tensors = caseTensors(stored, ctx.makeArray());
          const before = snapshotInputs(Object.values(tensors));
          const out = await kind.run(ctx.backend(), c, tensors);
          expect(out.shape).toEqual(v?.shape);
          expect(maxRelativeError(out.data, v?.expected ?? [])).toBeLessThanOrEqual(ctx.tolerance);
          expect(before.unchanged(), "the op changed an input").toBe(true);
        });
      }
    });
  }
}
