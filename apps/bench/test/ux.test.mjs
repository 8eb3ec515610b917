import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CONFIGS } from "@ropekit/benchmarks/grid";
import Table from "cli-table3";
import { describe, expect, it } from "vitest";
import { createProgress, formatElapsed, resultLine, runningLine } from "../src/progress.mjs";
import { charts, dodge, logTicks, textWidth, tickLabel, writeReport } from "../src/report.mjs";
import { PROGRESS_PREFIX, parseProgress, runAll, runPair } from "../src/runner.mjs";
import { palette, shouldColor, tableStyle } from "../src/terminal.mjs";
import { formatNote, unavailableNotes, unavailableReason } from "../src/unavailable.mjs";

const ESC = "\x1b[";
const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const decode = CONFIGS.find((c) => c.id === "rope/decode-131071");
const NO_GL =
  'gpu.js cannot run in mode "headlessgl" here: A requested mode of "headlessgl" and is not supported';

describe("colours", () => {
  it("only on a terminal, unless the command line or the environment says otherwise", () => {
    expect(shouldColor({ isTTY: true, env: {} })).toBe(true);
    expect(shouldColor({ isTTY: false, env: {} })).toBe(false);
    expect(shouldColor({ isTTY: undefined, env: {} })).toBe(false);
    expect(shouldColor({ isTTY: true, env: { TERM: "dumb" } })).toBe(false);
    // NO_COLOR: set and not empty.
    expect(shouldColor({ isTTY: true, env: { NO_COLOR: "1" } })).toBe(false);
    expect(shouldColor({ isTTY: true, env: { NO_COLOR: "" } })).toBe(true);
    // FORCE_COLOR: set means colour, except 0 / false; it wins over NO_COLOR, as in Node.
    expect(shouldColor({ isTTY: false, env: { FORCE_COLOR: "1" } })).toBe(true);
    expect(shouldColor({ isTTY: false, env: { FORCE_COLOR: "" } })).toBe(true);
    expect(shouldColor({ isTTY: true, env: { FORCE_COLOR: "0" } })).toBe(false);
    expect(shouldColor({ isTTY: true, env: { FORCE_COLOR: "false" } })).toBe(false);
    expect(shouldColor({ isTTY: false, env: { FORCE_COLOR: "1", NO_COLOR: "1" } })).toBe(true);
    // --color / --no-color win over everything.
    expect(shouldColor({ isTTY: true, env: { FORCE_COLOR: "1" }, flag: false })).toBe(false);
    expect(shouldColor({ isTTY: false, env: { NO_COLOR: "1" }, flag: true })).toBe(true);
  });

  it("without colour, no escape code reaches the table or a progress line", () => {
    const table = new Table({ head: ["a", "b"], style: tableStyle(false) });
    table.push(["x", palette(false).green("ok")]);
    expect(table.toString()).not.toContain(ESC);
    // (Whether cli-table3 colours a table with colour on depends on its own terminal detection, which
    // says no under CI, so only the no-colour side is asserted for the table.)
    const r = { config: "c", contender: "js", status: "failed", message: "boom", wallMs: 1200 };
    expect(resultLine({ i: 0, n: 1, result: r, paint: palette(false) })).toBe(
      "[1/1] c · js: failed (boom) [1.2 s]",
    );
    expect(resultLine({ i: 0, n: 1, result: r, paint: palette(true) })).toContain(`${ESC}31m`);
  });
});

describe("an unavailable mode", () => {
  it("is told from an ordinary failure by what the backend says", () => {
    expect(unavailableReason({ status: "failed", message: NO_GL })).toBe(NO_GL);
    expect(unavailableReason({ status: "failed", message: "gpu.js ran cpu, not headlessgl" })).toBeDefined();
    expect(
      unavailableReason({
        status: "failed",
        message: "backend-wasm needs WebAssembly SIMD, which this runtime does not validate",
      }),
    ).toBeDefined();
    expect(
      unavailableReason({
        status: "failed",
        message: "Cannot find package 'onnxruntime-node' imported from x",
      }),
    ).toBeDefined();
    expect(unavailableReason({ status: "unavailable", message: "no Chromium" })).toBe("no Chromium");
    // Ordinary results, and failures of a backend that did start, are not.
    expect(unavailableReason({ status: "failed", message: "index out of bounds" })).toBeUndefined();
    expect(unavailableReason({ status: "failed", message: "WebGPU validation error: x" })).toBeUndefined();
    expect(unavailableReason({ status: "crashed", message: NO_GL })).toBeUndefined();
    expect(unavailableReason({ status: "wrong", error: 1 })).toBeUndefined();
    expect(unavailableReason({ status: "ok", ms: 1 })).toBeUndefined();
  });

  it("is run once, then recorded for its other pairs without running them, and reported as one note", async () => {
    const configs = [decode, { ...decode, id: "b" }, { ...decode, id: "c", series: "s" }];
    const pairs = configs.flatMap((config) =>
      ["js", "gpujs-headlessgl"].map((contender) => ({ config, contender })),
    );
    const ran = [];
    const reported = [];
    const results = await runAll(pairs, {
      onResult: (i) => reported.push(i),
      async runOne({ config, contender }) {
        ran.push(`${config.id}|${contender}`);
        return contender === "js"
          ? { config: config.id, contender, status: "ok", ms: 1 }
          : { config: config.id, contender, status: "failed", message: NO_GL };
      },
    });
    expect(ran).toEqual([`${decode.id}|js`, `${decode.id}|gpujs-headlessgl`, "b|js", "c|js"]);
    expect(reported).toEqual([0, 1, 2, 4]); // said once, not once per configuration
    expect(results.map((r) => r.status)).toEqual([
      "ok",
      "unavailable",
      "ok",
      "unavailable",
      "ok",
      "unavailable",
    ]);
    const notes = unavailableNotes(results);
    expect(notes).toEqual([{ contenders: ["gpujs-headlessgl"], reason: NO_GL, pairs: 3 }]);
    expect(formatNote(notes[0])).toBe(
      `gpujs-headlessgl does not run on this machine, not measured (3 pairs): ${NO_GL}`,
    );
  });

  it("contenders that cannot run for the same reason share one note", () => {
    const results = ["browser-wasm-1", "browser-gpujs-webgl2"].map((contender) => ({
      config: "browser",
      contender,
      status: "unavailable",
      message: "no Chromium",
    }));
    expect(unavailableNotes([...results, { config: "x", contender: "js", status: "ok" }])).toEqual([
      { contenders: ["browser-wasm-1", "browser-gpujs-webgl2"], reason: "no Chromium", pairs: 2 },
    ]);
    expect(formatNote(unavailableNotes(results)[0])).toMatch(/^browser-wasm-1, browser-gpujs-webgl2 do not/);
  });

  it("a child process that cannot start its backend is recorded as unavailable", async () => {
    const [r] = await runAll([{ config: decode, contender: fixture("unavailable-contender.mjs") }], {
      quick: true,
      timeoutMs: 60_000,
    });
    expect(r.status).toBe("unavailable");
    expect(r.message).toBe(NO_GL);
  });

  it("the report lists it under its own heading, not as a row", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-report-"));
    try {
      const report = {
        profile: "quick",
        machine: { cpu: "cpu", cores: 2, memoryGiB: 8, node: "v20", date: "2026-01-01T00:00:00Z" },
        matmulGflops: 10,
        unsupported: 0,
        unavailable: [{ contenders: ["gpujs-headlessgl"], reason: NO_GL, pairs: 2 }],
        results: [],
      };
      const [, md] = writeReport(report, [decode], dir);
      const text = readFileSync(md, "utf8");
      expect(text).toContain("## Not run on this machine");
      expect(text).toContain("- gpujs-headlessgl does not run on this machine");
      expect(text).not.toContain("| gpujs-headlessgl");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("progress", () => {
  it("lines: elapsed time, and phase and samples when the child reports them", () => {
    expect(formatElapsed(430)).toBe("0.4 s");
    expect(formatElapsed(59_940)).toBe("59.9 s");
    expect(formatElapsed(125_000)).toBe("2 min 05 s");
    const base = { i: 2, n: 12, config: "attention/prefill-1024", contender: "wasm-2", elapsedMs: 12_345 };
    expect(runningLine(base)).toBe("[ 3/12] attention/prefill-1024 · wasm-2: running 12.3 s");
    expect(runningLine({ ...base, where: "browser ", progress: { phase: "timing", samples: 1 } })).toBe(
      "[browser  3/12] attention/prefill-1024 · wasm-2: running 12.3 s (timing, 1 sample)",
    );
  });

  const fakeStream = (isTTY) => {
    const out = { isTTY, columns: 200, text: "", write: (s) => (out.text += s) };
    return out;
  };
  const fakeClock = () => {
    const c = { t: 0, timers: [], now: () => c.t };
    c.setTimer = (fn, ms) => c.timers.push({ fn, ms }) - 1;
    c.clearTimer = (id) => (c.timers[id] = undefined);
    return c;
  };

  it("on a terminal, one line redrawn in place, then the result on its own line", () => {
    const stream = fakeStream(true);
    const clock = fakeClock();
    const p = createProgress({ stream, ...clock });
    const { onStart, onProgress, onResult } = p.callbacks("");
    onStart(0, 2, decode, "js");
    expect(stream.text).toBe(`\r[1/2] ${decode.id} · js: running 0.0 s`);
    expect(clock.timers[0].ms).toBe(250);
    clock.t = 1500;
    onProgress(0, 2, { phase: "timing", samples: 7 });
    clock.timers[0].fn();
    expect(stream.text.split("\r").at(-1)).toBe(`[1/2] ${decode.id} · js: running 1.5 s (timing, 7 samples)`);
    const before = stream.text.length;
    onResult(0, 2, { config: decode.id, contender: "js", status: "ok", ms: 0.02, wallMs: 1600 });
    const tail = stream.text.slice(before);
    expect(tail).toMatch(/^\r +\r/); // the running line is wiped first
    expect(tail.endsWith(`[1/2] ${decode.id} · js: ok 0.02 ms [1.6 s]\n`)).toBe(true);
    expect(clock.timers[0]).toBeUndefined(); // its timer is stopped
    expect(stream.text).not.toContain(ESC);
  });

  it("in a pipe, only now and then a plain line while a pair runs", () => {
    const stream = fakeStream(false);
    const clock = fakeClock();
    const p = createProgress({ stream, plainEveryMs: 20_000, ...clock });
    p.start("", 0, 1, decode, "js");
    expect(stream.text).toBe("");
    expect(clock.timers[0].ms).toBe(20_000);
    clock.t = 20_000;
    clock.timers[0].fn();
    expect(stream.text).toBe(`[1/1] ${decode.id} · js: running 20.0 s\n`);
    p.log("a line of its own");
    p.result("", 0, 1, { config: decode.id, contender: "js", status: "timeout", message: "no result" });
    expect(stream.text).not.toContain("\r");
    expect(stream.text.split("\n").slice(1)).toEqual([
      "a line of its own",
      `[1/1] ${decode.id} · js: timeout (no result)`,
      "",
    ]);
  });

  it("a child's progress lines reach the runner and stay out of its error message", async () => {
    expect(parseProgress(`${PROGRESS_PREFIX}{"samples":3}`)).toEqual({ samples: 3 });
    expect(parseProgress(`${PROGRESS_PREFIX}not json`)).toBeUndefined();
    expect(parseProgress(`${PROGRESS_PREFIX}[1]`)).toBeUndefined();
    expect(parseProgress("samples: 3")).toBeUndefined();
    const seen = [];
    const r = await runPair({
      config: decode,
      contender: fixture("progress-contender.mjs"),
      quick: true,
      timeoutMs: 60_000,
      onProgress: (p) => seen.push(p),
    });
    // The contender's own two lines, then measure's "checking" before the (crashing) checked call.
    expect(seen).toEqual([{ phase: "timing", samples: 3 }, { samples: 4 }, { phase: "checking" }]);
    expect(r.status).toBe("crashed");
    expect(r.message).toBe("exit SIGKILL: boom: the real error");
  });
});

describe("charts", () => {
  it("log ticks span the data with labelled ends", () => {
    expect(logTicks(0.55, 0.9)).toEqual({ domain: [0.5, 1], ticks: [0.5, 1] });
    expect(logTicks(2.4, 11)).toEqual({ domain: [2, 20], ticks: [2, 3, 5, 10, 20] });
    expect(logTicks(0.4, 12_000).ticks).toEqual([0.1, 1, 10, 100, 1000, 10_000, 100_000]);
    expect(tickLabel(10_000)).toBe("10,000");
    expect(tickLabel(0.3)).toBe("0.3");
    expect(logTicks(5, 5)).toEqual({ domain: [3, 10], ticks: [3, 5, 10] });
  });

  it("end labels are moved apart and stay in the frame", () => {
    const ys = dodge([100, 101, 300, 102, 395], 13, 8, 400);
    const sorted = [...ys].sort((a, b) => a - b);
    for (let k = 1; k < sorted.length; k++) expect(sorted[k] - sorted[k - 1]).toBeGreaterThanOrEqual(13);
    expect(ys[0]).toBe(100); // the first keeps its place
    expect(ys[2]).toBe(300);
    expect(Math.max(...ys)).toBeLessThanOrEqual(400);
    expect(dodge([5], 13, 8, 400)).toEqual([8]);
  });

  it("have a title, the shape, a legend, and margins wide enough for every tick label", () => {
    const results = [];
    for (const [contender, f] of [
      ["js", 1],
      ["wasm-2", 0.2],
      ["browser-gpujs-webgpu", 3],
    ])
      for (const S of [512, 1024, 2048, 4096, 16384, 32768])
        results.push({
          config: `attention/prefill-${S}`,
          contender,
          status: "ok",
          ms: f * 1e-4 * S * S,
          gflops: 5,
        });
    const report = {
      profile: "full",
      results,
      machine: { cpu: "Test CPU <x>", cores: 2, memoryGiB: 8, node: "v20", date: "2026-01-01T00:00:00Z" },
    };
    const svgs = charts(report, CONFIGS);
    expect(Object.keys(svgs)).toEqual(["attention-time.svg", "attention-throughput.svg"]);
    const svg = svgs["attention-time.svg"];
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain("<title>Causal attention prefill: time per call against sequence length</title>");
    expect(svg).toContain("q, k, v [1, S, 8, 64] bshd, f32, causal");
    expect(svg).toContain("Test CPU &lt;x&gt;"); // escaped
    for (const c of ["js", "wasm-2", "browser-gpujs-webgpu"]) expect(svg).toContain(`>${c}</text>`);
    for (const s of ["512", "32768", "10,000", "1,000,000"]) expect(svg).toContain(`>${s}</text>`);
    // Tick labels sit left of the y axis (6 px tick, 3 px gap): the margin must hold the longest one.
    const marginLeft = Number(
      svg.match(/aria-label="y-axis tick"><path [^>]*translate\((\d+(?:\.\d+)?),/)[1],
    );
    const labels = [...svg.matchAll(/aria-label="y-axis tick label"[\s\S]*?<\/g>/g)][0][0];
    const longest = Math.max(...[...labels.matchAll(/>([^<]+)<\/text>/g)].map((m) => textWidth(m[1])));
    expect(longest + 9).toBeLessThanOrEqual(marginLeft);
    // Every tick is labelled (a log scale's own labels leave 3 and 5 blank), on both charts.
    for (const chart of Object.values(svgs)) {
      const groups = [...chart.matchAll(/aria-label="[xy]-axis tick label">([\s\S]*?)<\/g>/g)];
      expect(groups).toHaveLength(2);
      for (const [, texts] of groups) expect(texts).not.toMatch(/<text [^>]*\/>/); // an empty label
    }
    const throughput = svgs["attention-throughput.svg"];
    for (const s of ["3", "5", "10"]) expect(throughput).toContain(`>${s}</text>`);
  });
});
