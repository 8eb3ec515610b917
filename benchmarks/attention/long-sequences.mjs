// Causal attention on backend-js at long sequence lengths: time, GFLOP/s and peak RSS, each
// configuration in its own child process.
//   node attention/long-sequences.mjs [seq ...]      (default: 4096 32768)
// Work is counted honestly for causal attention: only the S(S+1)/2 visible (query, key) pairs, each
// costing 2·d flops for q·k and 2·d for the weighted sum of v.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { machineInfo, saveResult } from "../src/results.mjs";

const heads = 8;
const headDim = 64;
const lengths = process.argv.slice(2).map(Number);
if (lengths.length === 0) lengths.push(4096, 32768);
// The same child as the peer comparison: backend-js in its own process, checked against the f64 reference first.
const child = fileURLToPath(new URL("../peers/attention-child.mjs", import.meta.url));
const MiB = 2 ** 20;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows = [];
for (const seq of lengths) {
  const runs = seq <= 8192 ? 5 : 1; // one run of 32 768 already takes minutes (plus the checked run)
  process.stderr.write(`causal attention ${heads}×${seq}×${headDim}, ${runs} run(s)…\n`);
  let report;
  try {
    report = JSON.parse(
      execFileSync(process.execPath, [child, "ropekit-js", String(seq), String(runs)], {
        encoding: "utf8",
        maxBuffer: 1 << 20,
      }),
    );
  } catch (error) {
    rows.push({ seq, error: String(error.message ?? error).split("\n")[0] });
    continue;
  }
  if (report.times.length === 0) {
    rows.push({ seq, error: `wrong result (max error ${report.error}): no timing` });
    continue;
  }
  const ms = median(report.times);
  const flops = heads * ((seq * (seq + 1)) / 2) * 4 * headDim;
  rows.push({
    seq,
    runs,
    medianMs: Math.round(ms),
    gflops: Number((flops / ms / 1e6).toFixed(2)),
    peakRssMiB: Math.round(report.peakRss / MiB),
    inputsMiB: Math.round((3 * heads * seq * headDim * 4) / MiB),
    scoreMatrixMiB: Math.round((heads * seq * seq * 4) / MiB),
  });
}

const machine = machineInfo();
console.log(
  `backend-js causal attention, ${heads} heads × S × ${headDim} (${machine.cpu}, ${machine.cores} cores, Node ${machine.node})`,
);
console.table(rows);
saveResult("attention-long.json", { machine, heads, headDim, rows });
