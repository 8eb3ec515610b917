// onnxruntime-node (1 thread) decode on the bench:decode shapes, float32 and float16 interleaved round by
// round in one process (medians), each checked first against core's f64 reference on the values it was fed:
//   node peer-child.mjs <qHeads> <kvHeads> <kvLen> <dtypes, comma-separated> <runs>   → JSON
// MHA shapes run com.microsoft MultiHeadAttention; GQA shapes com.microsoft GroupQueryAttention on the kv
// heads as they are (CPU kernels for float32 and float16 both), with the cache as a shared past/present
// buffer — how ORT decodes. Same graphs as the bench app's (contenders/ort.mjs).
import { encodeHalf } from "@ropekit/core";
import { ortRun } from "../src/contenders/ort.mjs";
import {
  decodeError,
  decodeQuery,
  decodeTolerance,
  HEAD_DIM,
  K_SEED,
  kvValue,
  median,
  stopwatch,
  V_SEED,
} from "./cache.mjs";

const [qHeads, kvHeads, kvLen] = process.argv.slice(2, 5).map(Number);
const dtypes = (process.argv[5] ?? "float32,float16").split(",");
const runs = Number(process.argv[6] ?? 7);
const contender = "ort-node-1";
const d = HEAD_DIM;
const { time, lastCpu } = stopwatch();

const n = kvHeads * kvLen * d;
const fill = (seed) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = kvValue(i, seed);
  return a;
};
const inputs = { q: decodeQuery(qHeads), k: fill(K_SEED), v: fill(V_SEED) };
const op = qHeads === kvHeads ? "MultiHeadAttention" : "GroupQueryAttention";
const config = {
  op: "attention",
  layout: "bhsd",
  batch: 1,
  qLen: 1,
  kvLen,
  qHeads,
  kvHeads,
  headDim: d,
  causal: true,
  gqa: "GroupQueryAttention",
};

const peers = [];
for (const dtype of dtypes) {
  const run = await ortRun(contender, { ...config, dtype }, inputs);
  if (!run) throw new Error(`${contender} has no ${dtype} attention`);
  // The gate (cache.mjs), on q, K and V as fed: rounded to f16 for the float16 graph.
  const fed = (a) => (dtype === "float32" ? a : encodeHalf(a, "float16"));
  const error = decodeError({
    ...{ out: await run(), outDtype: dtype, q: fed(inputs.q), qDtype: dtype, k: fed(inputs.k) },
    ...{ v: fed(inputs.v), kvDtype: dtype, qHeads, kvHeads, kvLen },
  });
  if (!(error <= decodeTolerance(dtype)))
    throw new Error(`${contender} ${dtype} decode: max relative error ${error} vs the f64 reference`);
  peers.push({ dtype, run, error, step: [], stepCpu: [] });
}
for (let r = 0; r < runs; r++) {
  for (const p of peers) {
    p.step.push(await time(p.run));
    p.stepCpu.push(lastCpu());
  }
}
const results = peers.map((p) => ({
  contender,
  op,
  dtype: p.dtype,
  maxRelativeErrorVsF64: p.error,
  kvBytes: 2 * n * (p.dtype === "float32" ? 4 : 2),
  stepMs: median(p.step),
  stepCpuMs: median(p.stepCpu),
  steps: p.step,
}));
console.log(JSON.stringify({ qHeads, kvHeads, kvLen, headDim: d, results }));
process.exit(0);
