// The performance targets of backend-wasm, each as a ratio measured in one run (medians):
//   node wasm/targets.mjs [--rounds 3] [--skip-long]
// Memory-bound ops are compared with a copy of the same bytes in the same process; attention with
// onnxruntime-web and tfjs-backend-wasm, every contender in its own process, rounds interleaved so
// machine noise hits all of them alike. Results go to results/wasm-targets.json.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { machineInfo, saveResult } from "../src/results.mjs";

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf("--rounds") + 1] || 3);
const skipLong = args.includes("--skip-long");
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const child = (script, argv) =>
  JSON.parse(execFileSync(process.execPath, [script, ...argv], { encoding: "utf8", maxBuffer: 1 << 20 }));

const bandwidth = [1, 2].map((t) => child(here("./bandwidth-child.mjs"), [String(t), "9"]));

const contenders = ["ropekit-wasm-1", "ropekit-wasm-2", "ort-web-1", "tfjs-wasm"];
const S = 2048;
const times = Object.fromEntries(contenders.map((c) => [c, []]));
const errors = {};
for (let r = 0; r < rounds; r++) {
  for (const c of contenders) {
    process.stderr.write(`round ${r + 1}/${rounds}: ${c} at S=${S}\n`);
    const out = child(here("../peers/attention-child.mjs"), [c, String(S), c === "tfjs-wasm" ? "1" : "3"]);
    errors[c] = out.error;
    times[c].push(...out.times);
  }
}
const ms = Object.fromEntries(contenders.map((c) => [c, median(times[c])]));
let long;
if (!skipLong) {
  process.stderr.write("ropekit-wasm-2 at S=32768 (one run)\n");
  long = child(here("../peers/attention-child.mjs"), ["ropekit-wasm-2", "32768", "1"]);
}

const b1 = bandwidth[0];
const b2 = bandwidth[1];
const rows = [
  {
    target: "RoPE in place, resident, 1 thread ≥ 0.90 × copy",
    measured: b1.rope.residentVsCopy,
    pass: b1.rope.residentVsCopy >= 0.9,
  },
  {
    target: "RoPE in place, plain arrays, 1 thread ≥ 0.40 × copy",
    measured: b1.rope.plainVsCopy,
    pass: b1.rope.plainVsCopy >= 0.4,
  },
  {
    target: `attention 8×${S}×64 causal, 1 thread ≥ 2× onnxruntime-web (1 thread)`,
    measured: ms["ort-web-1"] / ms["ropekit-wasm-1"],
    pass: ms["ort-web-1"] / ms["ropekit-wasm-1"] >= 2,
  },
  {
    target: `attention 8×${S}×64 causal, 1 thread ≥ 20× tfjs-backend-wasm`,
    measured: ms["tfjs-wasm"] / ms["ropekit-wasm-1"],
    pass: ms["tfjs-wasm"] / ms["ropekit-wasm-1"] >= 20,
  },
  {
    target: "attention, 2 threads ≥ 1.7× 1 thread",
    measured: ms["ropekit-wasm-1"] / ms["ropekit-wasm-2"],
    pass: ms["ropekit-wasm-1"] / ms["ropekit-wasm-2"] >= 1.7,
  },
  {
    target: "decode 32/8 heads × 128, kv 8192, 1 thread ≥ 0.35 × copy",
    measured: b1.decode.vsCopy,
    pass: b1.decode.vsCopy >= 0.35,
  },
  { target: "decode, 2 threads ≥ 0.50 × copy", measured: b2.decode.vsCopy, pass: b2.decode.vsCopy >= 0.5 },
];
if (long)
  rows.push({
    target: "attention 8×32768×64 causal peak RSS < 1 GiB",
    measured: long.peakRss / 2 ** 30,
    pass: long.peakRss < 2 ** 30,
  });

const machine = machineInfo();
console.log(
  `backend-wasm targets (${machine.cpu}, ${machine.cores} cores, Node ${machine.node}); ${rounds} interleaved rounds`,
);
console.table(rows.map((r) => ({ ...r, measured: Number(r.measured.toFixed(2)) })));
console.table(
  contenders.map((c) => ({ contender: c, medianMs: Math.round(ms[c]), maxErrorVsF64: errors[c] })),
);
console.log(
  `RoPE: resident ${b1.rope.residentGBs.toFixed(1)} GB/s, copy ${b1.rope.copyGBs.toFixed(1)} GB/s; decode: ${b1.decode.kvGBs.toFixed(1)} GB/s (1 thread), ${b2.decode.kvGBs.toFixed(1)} GB/s (2 threads)` +
    (long
      ? `; 32768: ${(long.times[0] / 1000).toFixed(1)} s, peak RSS ${(long.peakRss / 2 ** 20).toFixed(0)} MiB`
      : ""),
);
saveResult("wasm-targets.json", { machine, rows, attentionMs: ms, errors, bandwidth, long });
