// Times one (configuration, contender) pair, correctness first: the output is checked against the f64
// reference before anything is timed, and a wrong result gets no number. The copy of the same bytes is
// timed in the same process, right after, as the memory ceiling. Runs in Node and in the browser.
import { Bench } from "tinybench";
import { GATE_TOLERANCE, workload } from "./workloads.mjs";

/** Threads a contender computes on, from its name (…-1, …-2); GPU and single-threaded ones count 1. */
export const threadsOf = (name) => (/-(\d)$/.test(name) ? Number(name.at(-1)) : 1);

/** The same op on a small shape, for warming up; undefined when the configuration is already small. */
function smallVariant(config) {
  if (config.op === "attention" && config.qLen > 256) return { ...config, qLen: 256, kvLen: 256 };
  if ((config.op === "rope" || config.op === "sinusoidal") && config.seq > 64) return { ...config, seq: 64 };
  return undefined;
}

/**
 * Measures `prepare(config, inputs)` — which returns the timed call (resolving to the output as a
 * Float32Array in the configuration's layout), or undefined when the contender cannot run it.
 */
export async function measure(config, prepare, { quick = true, onProgress } = {}) {
  const w = workload(config);
  const run = await prepare(config, w.inputs);
  if (!run) return { status: "unsupported" };
  // Warm up on a small instance of the same op first: WebAssembly has no on-stack replacement, so a single
  // long call would otherwise run start to end in V8's baseline tier, and a JIT would see no hot loop.
  const small = smallVariant(config);
  if (small) {
    const warm = await prepare(small, workload(small).inputs);
    for (let i = 0; i < 3; i++) await warm?.();
  }
  onProgress?.({ phase: "checking" });
  const t0 = performance.now();
  const out = await run();
  const firstMs = performance.now() - t0;
  const error = w.gate(out instanceof Float32Array ? out : Float32Array.from(out));
  if (!(error <= GATE_TOLERANCE)) {
    return { status: "wrong", error: Number.isNaN(error) ? "NaN" : error };
  }
  const src = new Float32Array(w.copyElements).fill(0.5);
  const dst = new Float32Array(w.copyElements);
  // A call over 20 s is timed by its checked call alone (warm-up is noise next to it); one over 2 s once
  // more (the checked call was its warm-up); faster ones get a warm-up and at least 3 (quick) or 5
  // samples, or 0.25 s / 1 s of them.
  const verySlow = firstMs > 20000;
  const slow = firstMs > 2000;
  const bench = new Bench({
    time: slow ? 0 : quick ? 250 : 1000,
    iterations: slow ? 1 : quick ? 3 : 5,
    warmupIterations: slow ? 0 : 1,
    warmupTime: 0,
  });
  // afterEach runs outside the timed part of each sample (tinybench 6), so counting costs nothing measured.
  let samples = 0;
  if (!verySlow)
    bench.add("op", run, { afterEach: () => onProgress?.({ phase: "timing", samples: ++samples }) });
  // Two copies of the same bytes, always warmed up: into an existing array (bandwidth), and into a fresh
  // one, which also pays for the new pages, as every out-of-place op does for its output.
  const ceilings = new Bench({
    time: quick ? 100 : 400,
    iterations: quick ? 3 : 5,
    warmupIterations: 1,
    warmupTime: 0,
  });
  ceilings.add("copy", () => dst.set(src)).add("copy-fresh", () => new Float32Array(src));
  await bench.run();
  onProgress?.({ phase: "ceiling" });
  await ceilings.run();
  const op = verySlow ? undefined : bench.tasks[0].result;
  const [copy, copyFresh] = ceilings.tasks.map((t) => t.result);
  return {
    status: "ok",
    error,
    ms: op ? op.latency.p50 : firstMs,
    samples: op ? op.latency.samplesCount : 1,
    copyMs: copy.latency.p50,
    copyFreshMs: copyFresh.latency.p50,
    copyElements: w.copyElements,
    bytes: w.bytes,
    flops: w.flops,
    ceiling: w.ceiling,
  };
}
