import { createGpujsBackend } from "../../src/index.js";
import { describeReliability } from "../reliability-suite.js";

// The reliability suite (issue 12) in headless Chromium's WebGL2 and WebGPU (SwiftShader here), at the
// conformance suite's tolerance for those modes.
describeReliability({
  name: "backend-gpujs, Chromium, WebGL2",
  create: () => createGpujsBackend({ mode: "webgl2" }),
  tolerance: 1e-4,
  softcapCalls: 200,
});

describeReliability({
  name: "backend-gpujs, Chromium, WebGPU",
  create: () => createGpujsBackend({ mode: "webgpu" }),
  tolerance: 1e-4,
  softcapCalls: 200,
});
