// One attention contender in its own process, for the backend-wasm targets and the long-sequence run:
//   node attention-child.mjs <contender> <S> <runs>
// contender: ropekit-wasm-1 | ropekit-wasm-2 | ropekit-js | ort-web-1 | ort-web-2 | tfjs-wasm
// Causal attention [1, S, 8, 64] bshd — the bench app's prefill configuration, with its workload,
// correctness gate and contenders; prints JSON with every run's time.
import { createBackend, ropekitRun } from "../src/contenders/ropekit.mjs";
import { CONFIGS } from "../src/grid.mjs";
import { GATE_TOLERANCE, workload } from "../src/workloads.mjs";

const [contender, S, runs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 5)];
const base = CONFIGS.find((c) => c.series === "attention/prefill");
const config = { ...base, id: `attention/prefill-${S}`, qLen: S, kvLen: S };
const w = workload(config);

async function prepare() {
  if (contender.startsWith("ropekit-"))
    return ropekitRun(await createBackend(contender.slice(8)), config, w.inputs);
  if (contender.startsWith("ort-"))
    return (await import("../src/contenders/ort.mjs")).ortRun(contender, config, w.inputs);
  if (contender.startsWith("tfjs-"))
    return (await import("../src/contenders/tfjs.mjs")).tfjsRun(contender, config, w.inputs);
  throw new Error(`unknown contender ${contender}`);
}

const run = await prepare();
const error = w.gate(await run());
const times = [];
if (error <= GATE_TOLERANCE) {
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
}
console.log(JSON.stringify({ contender, S, error, times, peakRss: process.resourceUsage().maxRSS * 1024 }));
process.exit(0);
