// Long causal attention stays O(N·d) in memory: 8 heads × 16 384 tokens × 64 in a child process, so the
// peak RSS is this run's alone. An N×N score matrix would need 8 GiB in f32 (1 GiB per head); the
// tiled kernel needs the output (32 MiB) plus a few KiB of tiles.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const fixture = fileURLToPath(new URL("./fixtures/attention-memory.mjs", import.meta.url));
const MiB = 2 ** 20;

describe("attention memory", () => {
  it("causal attention at 8 × 16 384 × 64 allocates O(N·d), far below N²", { timeout: 900_000 }, () => {
    const report = JSON.parse(
      execFileSync(process.execPath, ["--expose-gc", fixture, "16384", "8", "64"], { encoding: "utf8" }),
    ) as {
      ms: number;
      outputBytes: number;
      inputBytes: number;
      rssBefore: number;
      arrayBuffersBefore: number;
      arrayBuffersAfter: number;
      peakRss: number;
      finite: boolean;
    };
    const n = 16384;
    const scoreMatrixPerHead = n * n * 4;
    const extraBuffers = report.arrayBuffersAfter - report.arrayBuffersBefore;
    const extraPeak = report.peakRss - report.rssBefore;
    console.info(
      `[memory] 8×16384×64 causal: ${(report.ms / 1000).toFixed(1)} s, new ArrayBuffers ${(extraBuffers / MiB).toFixed(1)} MiB ` +
        `(output ${(report.outputBytes / MiB).toFixed(0)} MiB), peak RSS ${(report.peakRss / MiB).toFixed(0)} MiB ` +
        `(+${(extraPeak / MiB).toFixed(0)} MiB over the inputs), one head's N×N scores would be ${(scoreMatrixPerHead / MiB).toFixed(0)} MiB`,
    );
    expect(report.finite).toBe(true);
    // Buffers allocated by the call: the output plus at most 1 MiB of tiles and bookkeeping.
    expect(extraBuffers).toBeLessThanOrEqual(report.outputBytes + MiB);
    // Peak process growth during the call: output + JIT/GC slack, a small fraction of one head's N×N.
    expect(extraPeak).toBeLessThan(report.outputBytes + 96 * MiB);
    expect(extraPeak).toBeLessThan(scoreMatrixPerHead / 8);
  });
});
