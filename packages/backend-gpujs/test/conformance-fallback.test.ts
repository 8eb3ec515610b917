import { describeConformance } from "@ropekit/core/testing";
import { createGpujsBackend } from "../src/index.js";

// gpu.js's own fallbacks, which every Node has: `webasm` (its kernels compiled to wasm) and `cpu`.
// f32 arithmetic throughout; the tables come from the CPU in f64, so the golden vectors hold to 1e-5.
describeConformance({
  name: "backend-gpujs, Node, gpu.js webasm fallback",
  create: () => createGpujsBackend({ mode: "webasm" }),
  tolerance: 1e-5,
  expectedMode: /^gpujs-webasm \(software\)$/,
});

// The same mode with tiny kernel calls, so every op runs its multi-call path (rows, blocks, features).
describeConformance({
  name: "backend-gpujs, Node, webasm, 256-element kernel calls",
  create: () => createGpujsBackend({ mode: "webasm", chunkElements: 256 }),
  tolerance: 1e-5,
  expectedMode: /^gpujs-webasm \(software\)$/,
});

describeConformance({
  name: "backend-gpujs, Node, gpu.js cpu fallback",
  create: () => createGpujsBackend({ mode: "cpu" }),
  tolerance: 1e-5,
  expectedMode: /^gpujs-cpu \(software\)$/,
});
