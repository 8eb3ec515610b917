import { describeReliability } from "@ropekit/core/testing";
import { createWebgpuBackend } from "../src/index.js";
import { webgpuUnavailable, whenWebgpu } from "./availability.js";

// Hostile inputs, numerics at the edge of f32, concurrent calls, lifecycle and seeded fuzzing against the
// f64 reference, through Dawn (SwiftShader here).
const unavailable = await webgpuUnavailable();

whenWebgpu("reliability, Node + Dawn", unavailable, () => {
  describeReliability({
    name: "backend-webgpu, Node, Dawn",
    create: () => createWebgpuBackend(),
    tolerance: 1e-5,
  });
  describeReliability({
    name: "backend-webgpu, Node, Dawn, split-K attention everywhere",
    create: () => createWebgpuBackend({ attentionPath: "split", splitKeys: 64 }),
    tolerance: 1e-5,
    fuzzRuns: 500,
    concurrentCalls: 100,
  });
});
