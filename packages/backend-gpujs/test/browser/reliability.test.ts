import { describeReliability as describeCoreReliability } from "@ropekit/core/testing";
import { createGpujsBackend } from "../../src/index.js";
import { describeReliability } from "../reliability-suite.js";

// Both reliability suites (this package's, issue 12, and core's) in headless Chromium's WebGL2 and WebGPU
// (SwiftShader here), at the conformance suite's tolerance for those modes.
for (const [label, mode] of [
  ["WebGL2", "webgl2"],
  ["WebGPU", "webgpu"],
] as const) {
  const name = `backend-gpujs, Chromium, ${label}`;
  const create = () => createGpujsBackend({ mode });
  describeReliability({ name, create, tolerance: 1e-4, softcapCalls: 200 });
  describeCoreReliability({ name, create, tolerance: 1e-4, fuzzRuns: 1000 });
}
