import { describeConformance } from "@ropekit/core/testing";
import { createWebgpuBackend } from "../src/index.js";
import { webgpuUnavailable, whenWebgpu } from "./availability.js";

// WGSL kernels through Dawn in Node: SwiftShader's Vulkan here (a fallback adapter, so the mode says
// "software"), the GPU's driver on a machine with one. f32 arithmetic with tables from the CPU in f64.
const unavailable = await webgpuUnavailable();
const MODE = /^webgpu \([\w-]+(, software)?\)$/;

whenWebgpu("conformance, Node + Dawn", unavailable, () => {
  describeConformance({
    name: "backend-webgpu, Node, Dawn",
    create: () => createWebgpuBackend(),
    tolerance: 1e-5,
    expectedMode: MODE,
  });
  // Every attention feature through the split-K decode kernels (64-key chunks, rows of every shape).
  describeConformance({
    name: "backend-webgpu, Node, Dawn, split-K attention everywhere",
    create: () => createWebgpuBackend({ attentionPath: "split", splitKeys: 64 }),
    tolerance: 1e-5,
    expectedMode: MODE,
  });
  // Tiny bindings: the larger cases run their chunked paths (rows, tokens, one job per (batch, kv head) group).
  describeConformance({
    name: "backend-webgpu, Node, Dawn, 2048-element bindings",
    create: () => createWebgpuBackend({ maxBindingElements: 2048 }),
    tolerance: 1e-5,
    expectedMode: MODE,
  });
});
