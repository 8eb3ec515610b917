import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../../backend/contract.js";
import { createReferenceBackend } from "../../backend/reference.js";
import { ropeSpec } from "../../rope/spec.js";
import type { HeadsTensor } from "../../types.js";
import { expectSameNumbers, ropekitErrorOf, snapshotInputs } from "./compare.js";
import { HOSTILE_CASES } from "./hostile-inputs.js";
import { NUMERICS_CASES } from "./numerics-cases.js";
import { type CallResult, type RandomCall, randomCall, runCall } from "./random-calls.js";

/** Options of `describeReliability`. */
export interface ReliabilityOptions {
  /** Shown in the test names. */
  name: string;
  /** Makes a fresh backend; the suite makes several (some are disposed on purpose). */
  create: () => Backend | Promise<Backend>;
  /** Max |error| relative to the largest |expected|, as in the conformance suite. */
  tolerance: number;
  /** Moves a head tensor into the backend's own memory (resident tensors), for part of the concurrent mix. */
  resident?: (backend: Backend, t: HeadsTensor) => HeadsTensor;
  /** Kills one of the backend's worker threads (a test hook): the call in flight must fail WORKER_FAILED. */
  killWorker?: (backend: Backend) => void;
  /** Random valid calls checked against the reference. Default 2000. */
  fuzzRuns?: number;
  /** Calls in flight at once. Default 200. */
  concurrentCalls?: number;
  /** fast-check seed, so a failure replays. Default 20261202. */
  seed?: number;
}

/** Figures of a run, printed at the end so a CI log shows them per backend. */
interface Tally {
  calls: number;
  typedErrors: number;
  mismatches: number;
}

/**
 * Declares the reliability suite for one backend: hostile inputs (typed errors, inputs untouched),
 * numerics at the edge of f32, concurrent mixed calls, lifecycle (use after dispose, dispose during a
 * call, a killed worker) and seeded fuzzing against the f64 reference. Call it at the top level of a
 * vitest test file; it needs fast-check (an optional peer dependency of @ropekit/core).
 */
export function describeReliability(options: ReliabilityOptions): void {
  const { name, tolerance } = options;
  const seed = options.seed ?? 20261202;
  const tally: Tally = { calls: 0, typedErrors: 0, mismatches: 0 };

  // Generous limits: the fuzz and concurrency parts run thousands of calls, and CI runs several packages'
  // suites at once on two cores. A hang still fails, at the limit.
  describe(`reliability: ${name}`, { timeout: 300_000 }, () => {
    let backend: Backend;
    let f32 = true;
    const reference = createReferenceBackend();

    beforeAll(async () => {
      backend = await options.create();
      const d = backend.describe();
      f32 = d.precision === "f32";
      console.info(`[ropekit reliability] ${name}: backend ${d.name}, mode ${d.mode}, threads ${d.threads}`);
    });
    afterAll(() => {
      backend?.dispose();
      console.info(
        `[ropekit reliability] ${name}: ${tally.calls} checked calls, ${tally.typedErrors} typed errors, ${tally.mismatches} mismatches`,
      );
    });

    /** Runs a call on the backend and the reference and compares every number. */
    const check = async (call: RandomCall, what: string, place?: (t: HeadsTensor) => HeadsTensor) => {
      const [actual, expected] = await Promise.all([runCall(backend, call, place), runCall(reference, call)]);
      tally.calls++;
      try {
        compareResults(actual, expected, tolerance, f32, what);
      } catch (error) {
        tally.mismatches++;
        throw error;
      }
    };

    describe("hostile inputs", () => {
      for (const c of HOSTILE_CASES) {
        it(`${c.name} → ${c.code} (${c.argument}), inputs untouched`, async () => {
          const { args, call } = c.make();
          const before = snapshotInputs(args);
          const error = await ropekitErrorOf(() => call(backend));
          expect(error, "the call succeeded").toBeDefined();
          tally.typedErrors++;
          expect(error?.code).toBe(c.code);
          expect(error?.argument).toBe(c.argument);
          expect(before.unchanged(), "an input changed").toBe(true);
        });
      }

      it("a spec carrying extra cyclic or BigInt fields works like the plain spec", async () => {
        const spec = ropeSpec({ headDim: 8 });
        const cyclic: Record<string, unknown> = { ...spec, note: 10n };
        cyclic["self"] = cyclic;
        const x: HeadsTensor = {
          data: Float32Array.from({ length: 48 }, (_, i) => Math.sin(i)),
          shape: [1, 2, 3, 8],
          layout: "bhsd",
        };
        const [a, b] = await Promise.all([
          backend.applyRope(x, cyclic as never, { positions: 9 }),
          reference.applyRope(x, spec, { positions: 9 }),
        ]);
        expectSameNumbers(a.data, b.data, tolerance, f32, "applyRope");
      });
    });

    describe("numerics", () => {
      for (const c of NUMERICS_CASES) {
        it(c.name, async () => {
          const { q, k, v, options: o } = c.make();
          const before = snapshotInputs([q, k, v, o]);
          const [a, e] = await Promise.all([backend.attention(q, k, v, o), reference.attention(q, k, v, o)]);
          tally.calls++;
          expectSameNumbers(a.output.data, e.output.data, tolerance, f32, "output");
          if (o.returnLse) expectSameNumbers(a.lse, e.lse, tolerance, f32, "lse");
          expect(before.unchanged(), "an input changed").toBe(true);
        });
      }
    });

    describe("concurrency", () => {
      const count = options.concurrentCalls ?? 200;
      it(`${count} mixed calls in flight at once match the reference one by one`, async () => {
        const calls = fc.sample(randomCall, { numRuns: count, seed });
        const place = options.resident
          ? (t: HeadsTensor) => (options.resident as NonNullable<typeof options.resident>)(backend, t)
          : undefined;
        // Every third call on resident tensors where the backend has them.
        const results = await Promise.all(
          calls.map((c, i) => runCall(backend, c, i % 3 === 0 ? place : undefined)),
        );
        const expected = await Promise.all(calls.map((c) => runCall(reference, c)));
        for (const [i, r] of results.entries()) {
          tally.calls++;
          compareResults(
            r,
            expected[i] as CallResult,
            tolerance,
            f32,
            `call ${i} (${(calls[i] as RandomCall).op})`,
          );
        }
      });
    });

    describe("lifecycle", () => {
      it("every op after dispose() → DISPOSED", async () => {
        const b = await options.create();
        b.dispose();
        b.dispose(); // twice is fine
        const x: HeadsTensor = { data: new Float32Array(16), shape: [1, 1, 2, 8], layout: "bhsd" };
        const spec = ropeSpec({ headDim: 8 });
        const e = { data: new Float32Array(16), shape: [1, 2, 8] as [number, number, number] };
        const calls: (() => Promise<unknown>)[] = [
          () => b.applyRope(x, spec),
          () => b.applyRopeQK(x, x, spec),
          () => b.attention(x, x, x),
          () => b.addSinusoidal(e),
          () => b.addLearned(e, { data: new Float32Array(16), shape: [2, 8] }),
          () =>
            b.linear(
              { data: new Float32Array(8), shape: [1, 8] },
              { data: new Float32Array(8), shape: [1, 8] },
            ),
          () => b.rmsNorm(e),
        ];
        for (const call of calls) {
          const error = await ropekitErrorOf(call);
          expect(error?.code).toBe("DISPOSED");
        }
      });

      it("dispose() during calls: each call gives the right answer or DISPOSED, never garbage", async () => {
        const b = await options.create();
        const calls = fc.sample(randomCall, { numRuns: 40, seed: seed + 1 });
        const pending = calls.map((c) =>
          runCall(b, c).then(
            (r) => ({ r }),
            (error: unknown) => ({ error }),
          ),
        );
        await Promise.resolve();
        b.dispose();
        const settled = await Promise.all(pending);
        for (const [i, s] of settled.entries()) {
          if ("error" in s) {
            expect((s.error as { code?: string }).code, String(s.error)).toBe("DISPOSED");
            continue;
          }
          compareResults(s.r, await runCall(reference, calls[i] as RandomCall), tolerance, f32, `call ${i}`);
        }
      });

      if (options.killWorker) {
        it("a worker killed mid-call → WORKER_FAILED, then the backend works again", async () => {
          const b = await options.create();
          try {
            const call = fc.sample(
              randomCall.filter((c) => c.op === "attention"),
              { numRuns: 1, seed },
            )[0] as RandomCall;
            const big: RandomCall = {
              ...call,
              op: "attention",
              seed: "kill",
              batch: 2,
              qLen: 256,
              kvLen: 512,
              qHeads: 8,
              kvHeads: 2,
              headDim: 64,
              layout: "bhsd",
              options: { causal: true },
            };
            const inFlight = runCall(b, big);
            (options.killWorker as NonNullable<typeof options.killWorker>)(b);
            const error = await ropekitErrorOf(() => inFlight);
            expect(error?.code).toBe("WORKER_FAILED");
            compareResults(
              await runCall(b, big),
              await runCall(reference, big),
              tolerance,
              f32,
              "after the kill",
            );
          } finally {
            b.dispose();
          }
        });
      }
    });

    describe("fuzz", () => {
      const runs = options.fuzzRuns ?? 2000;
      it(`${runs} random valid calls match the f64 reference (fast-check, seed ${seed})`, async () => {
        await fc.assert(
          fc.asyncProperty(randomCall, async (c) => {
            await check(c, c.op);
          }),
          { numRuns: runs, seed, endOnFailure: true },
        );
      });
    });
  });
}

function compareResults(
  actual: CallResult,
  expected: CallResult,
  tolerance: number,
  f32: boolean,
  what: string,
): void {
  expect(actual.length).toBe(expected.length);
  for (const [i, e] of expected.entries()) {
    if (e === undefined) expect(actual[i]).toBeUndefined();
    else expectSameNumbers(actual[i], e, tolerance, f32, `${what} result ${i}`);
  }
}
