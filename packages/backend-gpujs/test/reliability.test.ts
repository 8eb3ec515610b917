import { describeReliability } from "./reliability-suite.js";
import { it } from "vitest";
import { type GpujsMode, createGpujsBackend } from "../src/index.js";

// The reliability suite (issue 12) in gpu.js's CPU fallbacks and, where it works, headless-gl (under
// `xvfb-run`, as `pnpm test` runs it). Tolerances are the conformance suite's for each mode.

async function headlessGlUnavailable(): Promise<string | undefined> {
  try {
    const backend = await createGpujsBackend({ mode: "headlessgl" });
    const mode = backend.device.mode;
    backend.dispose();
    return mode === "headlessgl" ? undefined : `gpu.js ran ${mode} instead of headlessgl`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

interface ModeCase {
  mode: GpujsMode;
  tolerance: number;
  chunkElements?: number;
  softcapCalls: number;
}

const modes: ModeCase[] = [
  { mode: "webasm", tolerance: 1e-5, softcapCalls: 300 },
  { mode: "webasm", tolerance: 1e-5, chunkElements: 256, softcapCalls: 60 },
  { mode: "cpu", tolerance: 1e-5, softcapCalls: 60 },
];
const glUnavailable = await headlessGlUnavailable();
if (glUnavailable === undefined) {
  modes.push(
    { mode: "headlessgl", tolerance: 1e-4, softcapCalls: 300 },
    { mode: "headlessgl", tolerance: 1e-4, chunkElements: 256, softcapCalls: 60 },
  );
} else if (process.env["CI"]) {
  it("reliability in headless-gl mode", () => {
    throw new Error(`headless-gl is not available: ${glUnavailable}`);
  });
} else {
  console.warn(`backend-gpujs: headless-gl reliability NOT RUN: ${glUnavailable}`);
}

for (const { mode, tolerance, chunkElements, softcapCalls } of modes) {
  describeReliability({
    name: `backend-gpujs ${mode}${chunkElements ? `, ${chunkElements}-element kernel calls` : ""}`,
    create: () => createGpujsBackend({ mode, ...(chunkElements ? { chunkElements } : {}) }),
    tolerance,
    softcapCalls,
  });
}
