import { describeReliability as describeCoreReliability } from "@ropekit/core/testing";
import { it } from "vitest";
import { type GpujsMode, createGpujsBackend } from "../src/index.js";
import { describeReliability } from "./reliability-suite.js";
import { headlessGlUnavailable } from "./mode-check.js";

// Two reliability suites in gpu.js's CPU fallbacks and, where it works, headless-gl (under `xvfb-run`, as
// `pnpm test` runs it): this package's (issue 12: attention on inputs f32 GL gets wrong, rmsNorm's hard
// rows) and core's (hostile inputs, numerics at the edge of f32, calls in flight at once, dispose during
// calls, seeded fuzzing against the f64 reference). Tolerances are the conformance suite's for each mode.

interface ModeCase {
  mode: GpujsMode;
  tolerance: number;
  chunkElements?: number;
  softcapCalls: number;
  /** Random calls of core's suite (default 2000). */
  fuzzRuns?: number;
}

const modes: ModeCase[] = [
  { mode: "webasm", tolerance: 1e-5, softcapCalls: 300 },
  { mode: "webasm", tolerance: 1e-5, chunkElements: 256, softcapCalls: 60, fuzzRuns: 500 },
  { mode: "cpu", tolerance: 1e-5, softcapCalls: 60, fuzzRuns: 500 },
];
const glUnavailable = await headlessGlUnavailable();
if (glUnavailable === undefined) {
  modes.push(
    { mode: "headlessgl", tolerance: 1e-4, softcapCalls: 300 },
    { mode: "headlessgl", tolerance: 1e-4, chunkElements: 256, softcapCalls: 60, fuzzRuns: 500 },
  );
} else if (process.env["CI"]) {
  it("reliability in headless-gl mode", () => {
    throw new Error(`headless-gl is not available: ${glUnavailable}`);
  });
} else {
  console.warn(`backend-gpujs: headless-gl reliability NOT RUN: ${glUnavailable}`);
}

for (const { mode, tolerance, chunkElements, softcapCalls, fuzzRuns } of modes) {
  const name = `backend-gpujs ${mode}${chunkElements ? `, ${chunkElements}-element kernel calls` : ""}`;
  const create = () => createGpujsBackend({ mode, ...(chunkElements ? { chunkElements } : {}) });
  describeReliability({ name, create, tolerance, softcapCalls });
  describeCoreReliability({ name, create, tolerance, ...(fuzzRuns ? { fuzzRuns } : {}) });
}
