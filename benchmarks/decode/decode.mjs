// Issue 14's targets for backend-wasm, each measured in one run (medians), every result checked against
// core's f64 reference first: decode of 1 query against 8192 and 32768 cached positions, GQA 32/8 and
// MHA 32/32 heads × 128, K/V resident in f32, f16 and bf16, 1 thread, each against the copy of the same
// K/V bytes; and prefill 8 × 2048 × 64 causal with bf16 inputs against f32. The peer: onnxruntime-node,
// 1 thread, on the same decode shapes and values with float32 and float16 inputs (MultiHeadAttention for
// MHA, GroupQueryAttention for GQA), each checked by the same gate, set against the same copy ceilings.
//   node decode/decode.mjs [--runs 7] [--kv 8192,32768] [--threads 1]   → results/decode.json
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { machineInfo, saveResult } from "../src/results.mjs";

const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const runs = arg("--runs", "7");
const threads = arg("--threads", "1");
const kvLens = arg("--kv", "8192,32768").split(",").map(Number);
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const child = (script, argv) =>
  JSON.parse(
    execFileSync(process.execPath, [here(script), ...argv], { encoding: "utf8", maxBuffer: 1 << 24 }),
  );
const shapes = [
  { name: "GQA 32/8 × 128", qHeads: 32, kvHeads: 8 },
  { name: "MHA 32/32 × 128", qHeads: 32, kvHeads: 32 },
];
const dtypes = "float32,float16,bfloat16";

const decode = [];
for (const kvLen of kvLens) {
  for (const s of shapes) {
    process.stderr.write(`decode ${s.name}, kv ${kvLen}, ${dtypes}\n`);
    const out = child("./decode-child.mjs", [s.qHeads, s.kvHeads, kvLen, dtypes, threads, runs].map(String));
    process.stderr.write(`decode ${s.name}, kv ${kvLen}, onnxruntime-node float32,float16\n`);
    const peer = child("./peer-child.mjs", [s.qHeads, s.kvHeads, kvLen, "float32,float16", runs].map(String));
    // The peer against the copy of its own K/V bytes (f32 or f16), as measured in the wasm child's run.
    const copyMs = Object.fromEntries(out.results.map((r) => [r.dtype, r.copyMs]));
    for (const r of peer.results) r.vsCopy = copyMs[r.dtype] / r.stepMs;
    decode.push({ shape: s.name, ...out, peers: peer.results });
  }
}
process.stderr.write("prefill 8 × 2048 × 64, float32 and bfloat16\n");
const prefill = child("./prefill-child.mjs", [
  "float32,bfloat16",
  threads,
  String(Math.min(Number(runs), 5)),
]);

const rows = [];
for (const d of decode) {
  const by = Object.fromEntries(d.results.map((r) => [r.dtype, r]));
  rows.push({
    target: `f32 decode ${d.shape}, kv ${d.kvLen}: ≥ 0.5 × copy of the same bytes`,
    measured: by.float32.vsCopy,
    cpuTime: by.float32.cpuVsCopy,
    pass: by.float32.vsCopy >= 0.5,
  });
  const mha = d.kvHeads === d.qHeads;
  for (const h of ["float16", "bfloat16"]) {
    const speedup = by.float32.stepMs / by[h].stepMs;
    rows.push({
      target: `${h} decode ${d.shape}, kv ${d.kvLen}: ${mha ? "≥ 1.5× faster than f32" : "no slower than f32"}`,
      measured: speedup,
      cpuTime: by.float32.stepCpuMs / by[h].stepCpuMs,
      pass: mha ? speedup >= 1.5 : speedup >= 0.95,
    });
  }
  // For comparison, not a target: how much the peer gains from float16 on the same shape.
  const peer = Object.fromEntries(d.peers.map((r) => [r.dtype, r]));
  rows.push({
    target: `(peer) onnxruntime-node ${peer.float16.op} float16 vs float32, ${d.shape}, kv ${d.kvLen}`,
    measured: peer.float32.stepMs / peer.float16.stepMs,
    cpuTime: peer.float32.stepCpuMs / peer.float16.stepCpuMs,
  });
}
const pf = Object.fromEntries(prefill.results.map((r) => [r.dtype, r]));
rows.push({
  target: "bf16 prefill 8×2048×64 no slower than f32 (within 5 %)",
  measured: pf.float32.ms / pf.bfloat16.ms,
  pass: pf.float32.ms / pf.bfloat16.ms >= 0.95,
});

const machine = machineInfo();
console.log(
  `backend-wasm decode and half precision (${machine.cpu}, ${machine.cores} cores, Node ${machine.node})`,
);
console.table(
  decode.flatMap((d) =>
    [...d.results, ...d.peers].map((r) => ({
      shape: d.shape,
      kv: d.kvLen,
      contender: r.contender ?? "ropekit wasm-1",
      dtype: r.dtype,
      ms: Number(r.stepMs.toFixed(2)),
      copyMs: r.copyMs === undefined ? "" : Number(r.copyMs.toFixed(2)),
      "× copy": Number(r.vsCopy.toFixed(2)),
      "GB/s": Number((r.kvBytes / r.stepMs / 1e6).toFixed(1)),
      cpuMs: Number(r.stepCpuMs.toFixed(2)),
      "× copy (CPU time)": r.cpuVsCopy === undefined ? "" : Number(r.cpuVsCopy.toFixed(2)),
      maxErr: Number(r.maxRelativeErrorVsF64.toExponential(1)),
    })),
  ),
);
console.table(
  prefill.results.map((r) => ({ dtype: r.dtype, ms: Math.round(r.ms), maxErr: r.maxRelativeErrorVsF64 })),
);
console.table(
  rows.map((r) => ({
    ...r,
    measured: Number(r.measured.toFixed(2)),
    pass: r.pass ?? "",
    cpuTime: r.cpuTime === undefined ? "" : Number(r.cpuTime.toFixed(2)),
  })),
);
console.log("measured: wall-clock medians; cpuTime: the same ratio from this process's CPU time (1 thread)");
saveResult("decode.json", { machine, threads: Number(threads), runs: Number(runs), rows, decode, prefill });
