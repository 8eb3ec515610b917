import { fileURLToPath } from "node:url";
import { CONFIGS, isPeer } from "@ropekit/benchmarks/grid";
import { describe, expect, it } from "vitest";
import { ceilingMs, withRatios } from "../src/ratios.mjs";
import { runAll, runPair } from "../src/runner.mjs";

const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const decode = CONFIGS.find((c) => c.id === "rope/decode-131071");

describe("ratio arithmetic", () => {
  const memory = {
    status: "ok",
    ceiling: "copy-fresh",
    copyElements: 1000,
    bytes: 8000,
    copyFreshMs: 2,
    copyMs: 1,
  };

  it("a memory-bound op against the copy of the same bytes", () => {
    // The copy moved 2·1000·4 = 8000 bytes in 2 ms (fresh) — exactly the op's bytes.
    expect(ceilingMs({ ...memory, ms: 4 }, {})).toBe(2);
    expect(ceilingMs({ ...memory, ms: 4, ceiling: "copy" }, {})).toBe(1);
    // An op that reads 16000 bytes needs twice the copy's time at the same bandwidth.
    expect(ceilingMs({ ...memory, ms: 4, bytes: 16000 }, {})).toBe(4);
  });

  it("a compute-bound op against the matmul peak times its threads", () => {
    const r = { status: "ok", ceiling: "matmul", flops: 4e9, threads: 2, ms: 40 };
    // 4 GFLOP at 2 × 50 GFLOP/s = 40 ms.
    expect(ceilingMs(r, { matmulGflops: 50 })).toBeCloseTo(40, 12);
    expect(ceilingMs(r, {})).toBeUndefined();
  });

  it("a WebGPU contender against its GPU's own ceilings, not the CPU's", () => {
    const gpu = { copyGBs: 100, matmulGflops: 2000 };
    // 8e9 flops at 2 TFLOP/s: 4 ms, whatever the CPU's matmul peak and the contender's threads.
    const compute = { status: "ok", ceiling: "matmul", flops: 8e9, ms: 10, threads: 1, gpu };
    expect(ceilingMs(compute, { matmulGflops: 50 })).toBeCloseTo(4, 12);
    // 1 GB at 100 GB/s: 10 ms, not the CPU copy timed next to it.
    const memory = { status: "ok", ceiling: "copy", bytes: 1e9, copyMs: 1, copyElements: 1, ms: 20, gpu };
    expect(ceilingMs(memory, {})).toBeCloseTo(10, 12);
  });

  it("ratios to the best peer and to backend-js, per configuration; failed rows get none", () => {
    const results = [
      { ...memory, config: "a", contender: "js", ms: 20 },
      { ...memory, config: "a", contender: "wasm-1", ms: 5 },
      { ...memory, config: "a", contender: "ort-node-1", ms: 10 },
      { ...memory, config: "a", contender: "tutorial-js", ms: 40 },
      { ...memory, config: "b", contender: "js", ms: 1 },
      { config: "a", contender: "tfjs-cpu", status: "timeout" },
    ];
    const [js, wasm, ort, tutorial, otherJs, failed] = withRatios(results, { matmulGflops: 1, isPeer });
    expect(wasm.vsBestPeer).toBe(2); // fastest peer 10 ms / 5 ms
    expect(wasm.vsJs).toBe(4); // 20 / 5
    expect(wasm.vsCeiling).toBeCloseTo(0.4, 12); // ceiling 2 ms / 5 ms
    expect(wasm.gbs).toBeCloseTo(8000 / 5 / 1e6, 15);
    expect(ort.vsBestPeer).toBe(1);
    expect(tutorial.vsBestPeer).toBe(0.25);
    expect(js.vsJs).toBe(1);
    expect(otherJs.vsBestPeer).toBeUndefined(); // no peer ran b
    expect(failed).toEqual(results[5]);
  });
});

describe("runner", () => {
  it("the correctness gate rejects a wrong backend: no time is reported", async () => {
    const r = await runPair({
      config: decode,
      contender: fixture("wrong-contender.mjs"),
      quick: true,
      timeoutMs: 60_000,
    });
    expect(r.status).toBe("wrong");
    expect(r.error).toBeGreaterThan(1e-3);
    expect(r.ms).toBeUndefined();
  });

  it("a correct backend passes the gate and is timed", async () => {
    const r = await runPair({ config: decode, contender: "js", quick: true, timeoutMs: 60_000 });
    expect(r.status).toBe("ok");
    expect(r.error).toBeLessThan(1e-6);
    expect(r.ms).toBeGreaterThan(0);
    expect(r.samples).toBeGreaterThanOrEqual(3);
    expect(r.peakRss).toBeGreaterThan(1 << 20);
  });

  it("a crashing and a hanging configuration (and what it started) are recorded and the run goes on", async () => {
    const started = [];
    const series = { ...decode, series: "s" };
    const results = await runAll(
      [
        { config: series, contender: fixture("crashing-contender.mjs") },
        { config: { ...series, id: "bigger" }, contender: fixture("crashing-contender.mjs") },
        { config: decode, contender: fixture("hanging-contender.mjs") },
        { config: decode, contender: "js" },
      ],
      { quick: true, timeoutMs: 8_000, onStart: (i) => started.push(i) },
    );
    expect(results.map((r) => r.status)).toEqual(["crashed", "skipped", "timeout", "ok"]);
    expect(results[0].message).toMatch(/SIGKILL/);
    expect(results[1].message).toMatch(/failed at a smaller size/);
    expect(started).toEqual([0, 2, 3]); // the skipped pair never started a process
  });
});
