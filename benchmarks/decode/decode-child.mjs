// Decode on backend-wasm against resident KV caches of several dtypes, each with the copy of the same
// K/V bytes inside the wasm memory as its ceiling, all interleaved round by round in one process (medians):
//   node decode-child.mjs <qHeads> <kvHeads> <kvLen> <dtypes, comma-separated> <threads> <runs>   → JSON
// Every dtype's result is checked against core's f64 reference (query heads 0 and last, on the same
// rounded K/V) before anything is timed.
import { createWasmBackend } from "@ropekit/backend-wasm";
import { halfBits } from "@ropekit/core";
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
const dtypes = (process.argv[5] ?? "float32").split(",");
const threads = Number(process.argv[6] ?? 1);
const runs = Number(process.argv[7] ?? 7);
const d = HEAD_DIM;
const { time, lastCpu } = stopwatch();

const backend = await createWasmBackend({ threads });
const n = kvHeads * kvLen * d;
const bytesOf = (dtype) => (dtype === "float32" ? 4 : 2);
const encode = (x, dtype) => (dtype === "float32" ? x : halfBits(x, dtype));

const caches = dtypes.map((dtype) => {
  const make = (seed) => {
    const t =
      dtype === "float32"
        ? backend.tensor([1, kvHeads, kvLen, d], "bhsd")
        : backend.tensor([1, kvHeads, kvLen, d], "bhsd", dtype);
    const data = t.data;
    for (let i = 0; i < n; i++) data[i] = encode(kvValue(i, seed), dtype);
    return t;
  };
  return { dtype, k: make(K_SEED), v: make(V_SEED) };
});
const q = {
  data: decodeQuery(qHeads),
  shape: [1, qHeads, 1, d],
  layout: "bhsd",
};
const step = (c) => backend.attention(q, c.k, c.v, { causal: true });

// Check (cache.mjs): query heads 0 and qHeads − 1 against the f64 reference on the stored (rounded) K/V.
const errors = {};
for (const c of caches) {
  const out = (await step(c)).output.data;
  const error = decodeError({
    ...{ out, outDtype: "float32", q: q.data, qDtype: "float32", k: c.k.data, v: c.v.data },
    ...{ kvDtype: c.dtype, qHeads, kvHeads, kvLen },
  });
  errors[c.dtype] = error;
  if (!(error <= decodeTolerance("float32")))
    throw new Error(`decode ${c.dtype}: max relative error ${error} vs the f64 reference`);
}

// The ceiling: K then V copied (memmove inside the wasm memory) into one block the size of one of them.
const target = backend.tensor([Math.ceil((n * Math.max(...dtypes.map(bytesOf))) / 4)]);
const copy = (from, bytes) => {
  const u8 = new Uint8Array(target.data.buffer);
  u8.copyWithin(target.ptr, from, from + bytes);
};
const times = Object.fromEntries(dtypes.map((t) => [t, { step: [], copy: [], stepCpu: [], copyCpu: [] }]));
for (let r = 0; r < runs; r++) {
  for (const c of caches) {
    const bytes = n * bytesOf(c.dtype);
    times[c.dtype].step.push(await time(() => step(c)));
    times[c.dtype].stepCpu.push(lastCpu());
    times[c.dtype].copy.push(
      await time(() => {
        copy(c.k.ptr, bytes);
        copy(c.v.ptr, bytes);
      }),
    );
    times[c.dtype].copyCpu.push(lastCpu());
  }
}
const results = dtypes.map((dtype) => {
  const kvBytes = 2 * n * bytesOf(dtype);
  const stepMs = median(times[dtype].step);
  const copyMs = median(times[dtype].copy);
  return {
    dtype,
    maxRelativeErrorVsF64: errors[dtype],
    kvBytes,
    stepMs,
    copyMs,
    kvGBs: kvBytes / stepMs / 1e6,
    vsCopy: copyMs / stepMs,
    stepCpuMs: median(times[dtype].stepCpu),
    copyCpuMs: median(times[dtype].copyCpu),
    cpuVsCopy: median(times[dtype].copyCpu) / median(times[dtype].stepCpu),
    steps: times[dtype].step,
    copies: times[dtype].copy,
  };
});
console.log(
  JSON.stringify({ qHeads, kvHeads, kvLen, headDim: d, threads, mode: backend.describe().mode, results }),
);
backend.dispose();
