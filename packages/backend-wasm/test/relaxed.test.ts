// The relaxed-SIMD build (fused multiply-add) through the same suite. Node 20 validates relaxed SIMD
// only with --experimental-wasm-relaxed-simd, which vitest.config.ts passes to this file alone; the
// expected mode makes sure the relaxed build really ran (browsers such as Chromium pick it by default).
import { describeConformance } from "@ropekit/core/testing";
import { createWasmBackend } from "../src/index.js";

describeConformance({
  name: "backend-wasm relaxed SIMD, 1 thread",
  create: () => createWasmBackend({ threads: 1 }),
  tolerance: 1e-5,
  expectedMode: /^wasm-relaxed-simd$/,
});

describeConformance({
  name: "backend-wasm relaxed SIMD, 2 threads",
  create: () => createWasmBackend({ threads: 2 }),
  tolerance: 1e-5,
  expectedMode: /^wasm-relaxed-simd-threads2$/,
});
