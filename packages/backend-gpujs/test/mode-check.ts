import type { HeadsTensor } from "@ropekit/core";
import { expect } from "vitest";
import { type GpujsBackend, createGpujsBackend } from "../src/index.js";

const shape = [1, 6, 2, 8] as [number, number, number, number];
const tensor = (seed: number): HeadsTensor<Float32Array> => ({
  data: Float32Array.from({ length: 96 }, (_, i) => Math.sin(seed + i * 0.7)),
  shape,
  layout: "bshd",
});

/**
 * Runs every op once, then checks that the description still names only the mode the probe found: no
 * kernel degraded to another gpu.js mode (the description lists every kernel class that ran).
 */
export async function expectEveryOpRunsIn(backend: GpujsBackend, mode: string): Promise<void> {
  const spec = { headDim: 8, rotaryDim: 8, base: 10000, pairing: "half", scaling: { type: "none" } } as const;
  const x = tensor(1);
  await backend.applyRope(x, spec, { positions: 3 });
  await backend.applyRopeQK(x, tensor(2), spec);
  await backend.attention(x, tensor(3), tensor(4), { causal: true, returnLse: true });
  await backend.addSinusoidal({ data: new Float32Array(24), shape: [1, 3, 8] });
  await backend.addLearned(
    { data: new Float32Array(24), shape: [1, 3, 8] },
    { data: new Float32Array(80), shape: [10, 8] },
  );
  await backend.linear(
    { data: new Float32Array(16).fill(1), shape: [2, 8] },
    { data: new Float32Array(24).fill(1), shape: [3, 8] },
  );
  await backend.rmsNorm(x, { data: new Float32Array(8).fill(0.5), shape: [8] }, { weightOffset: 1 });
  expect(backend.device.mode).toBe(mode);
  expect(backend.describe().mode).toMatch(new RegExp(`^gpujs-${mode}( \\(software\\))?$`));
}

/**
 * Why gpu.js cannot run headless-gl here (the optional `gl` package, a display), or undefined when it can.
 * `pnpm test` runs this package under `xvfb-run` when there is no display (scripts/test.mjs).
 */
export async function headlessGlUnavailable(): Promise<string | undefined> {
  try {
    const backend = await createGpujsBackend({ mode: "headlessgl" });
    const mode = backend.device.mode;
    backend.dispose();
    return mode === "headlessgl" ? undefined : `gpu.js ran ${mode} instead of headlessgl`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
