import { describeConformance } from "@ropekit/core/testing";
import { createWasmBackend } from "../src/index.js";

// Same bound as backend-js: ≤ 1e-5 of the largest expected magnitude.
describeConformance({
  name: "backend-wasm, 1 thread",
  create: () => createWasmBackend({ threads: 1 }),
  tolerance: 1e-5,
  expectedMode: /^wasm-(relaxed-)?simd$/,
});

describeConformance({
  name: "backend-wasm, 2 threads",
  create: () => createWasmBackend({ threads: 2 }),
  tolerance: 1e-5,
  expectedMode: /^wasm-(relaxed-)?simd-threads2$/,
});
