import { describeConformance } from "@ropekit/core/testing";
import { describe, expect, it } from "vitest";
import { createGpujsBackend } from "../src/index.js";
import { expectEveryOpRunsIn, headlessGlUnavailable } from "./mode-check.js";

// headless-gl (the optional `gl` package) gives gpu.js a real GL context in Node: Mesa's software
// rasteriser under Xvfb here, the GPU's driver on a machine with one. `pnpm test` in this package runs
// under `xvfb-run` when there is no display (scripts/test.mjs).
const unavailable = await headlessGlUnavailable();
if (unavailable === undefined) {
  // GL arithmetic is f32 with driver-rounded exp: 1e-4 relative, the tolerance the design card allows
  // GPU modes when the trig tables come from the CPU.
  describeConformance({
    name: "backend-gpujs, Node, headless-gl",
    create: () => createGpujsBackend({ mode: "headlessgl" }),
    tolerance: 1e-4,
    expectedMode: /^gpujs-headlessgl( \(software\))?$/,
  });
  describeConformance({
    name: "backend-gpujs, Node, headless-gl, 256-element kernel calls",
    create: () => createGpujsBackend({ mode: "headlessgl", chunkElements: 256 }),
    tolerance: 1e-4,
    expectedMode: /^gpujs-headlessgl( \(software\))?$/,
  });
} else if (process.env["CI"]) {
  // CI installs libxi-dev and xvfb, so headless-gl must work there: not running is a failure.
  it("conformance in headless-gl mode", () => {
    throw new Error(`headless-gl is not available: ${unavailable}`);
  });
} else {
  console.warn(`backend-gpujs: headless-gl conformance NOT RUN: ${unavailable}`);
  describe.skip(`conformance: backend-gpujs, Node, headless-gl (NOT RUN: ${unavailable})`, () => {
    it("needs the gl package built and a display (xvfb-run)", () => {});
  });
}

if (unavailable === undefined) {
  describe("backend-gpujs headless-gl mode", () => {
    it("names the renderer, says whether it is software, and every op runs as headlessgl", async () => {
      const backend = await createGpujsBackend({ mode: "headlessgl" });
      console.info(`[backend-gpujs] headless-gl renderer: ${backend.device.renderer}`);
      expect(backend.device.renderer).toMatch(/\S/);
      expect(backend.device.fallback).toBe(false);
      // The driver comes from the libraries the process loaded: Mesa's swrast under Xvfb.
      expect(backend.device.software).toBe(/swrast|llvmpipe|softpipe/i.test(backend.device.renderer ?? ""));
      await expectEveryOpRunsIn(backend, "headlessgl");
      backend.dispose();
    });
  });
}
