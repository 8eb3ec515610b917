// Decode on backend-wasm against resident KV caches of several dtypes, each with the copy of the same
// K/V bytes inside the wasm memory as its ceiling, all interleaved round by round in one process (medians):
//   node decode-child.mjs <qHeads> <kvHeads> <kvLen> <dtypes, comma-separated> <threads> <runs>   → JSON
// Every dtype's result is checked against core's f64 reference (query heads 0 and last, on the same
// rounded K/V) before anything is timed.
import { createWasmBackend } from "@ropekit/backend-wasm";
import { attentionReference, halfBits, halfValue, maxRelativeError } from "@ropekit/core";

const [qHeads, kvHeads, kvLen] = process.argv.slice(2, 5).map(Number);
const dtypes = (process.argv[5] ?? "float32").split(",");
const threads = Number(process.argv[6] ?? 1);
const runs = Number(process.argv[7] ?? 7);
const d = 128;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
// Wall time, and this process's CPU time (user + system): on a shared machine the wall time includes
// time the process waited for a core, the CPU time does not (1 thread: every kernel runs on this one).
const cpu = [];
const time = async (f) => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const t = performance.now() - t0;
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
  return t;
};
const lastCpu = () => cpu[cpu.length - 1];

const backend = await createWasmBackend({ threads });
const n = kvHeads * kvLen * d;
const bytesOf = (dtype) => (dtype === "float32" ? 4 : 2);
// Cheap varied values (a 4096-entry table read at a stride): Math.sin per element is slow at 2^28.
const table = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37) * 1.5);
const value = (i, seed) => table[(i * 7919 + seed) & 4095];
const encode = (x, dtype) => (dtype === "float32" ? x : halfBits(x, dtype));
const decode = (x, dtype) => (dtype === "float32" ? x : halfValue(x, dtype));

const caches = dtypes.map((dtype) => {
  const make = (seed) => {
    const t =
      dtype === "float32"
        ? backend.tensor([1, kvHeads, kvLen, d], "bhsd")
        : backend.tensor([1, kvHeads, kvLen, d], "bhsd", dtype);
    const data = t.data;
    for (let i = 0; i < n; i++) data[i] = encode(value(i, seed), dtype);
    return t;
  };
  return { dtype, k: make(11), v: make(23) };
});
const q = {
  data: Float32Array.from({ length: qHeads * d }, (_, i) => Math.sin(i * 0.37)),
  shape: [1, qHeads, 1, d],
  layout: "bhsd",
};
const step = (c) => backend.attention(q, c.k, c.v, { causal: true });

// Check: query heads 0 and qHeads − 1 against the f64 reference on the stored (rounded) K/V.
const errors = {};
for (const c of caches) {
  const out = await step(c);
  let error = 0;
  for (const h of [0, qHeads - 1]) {
    const kh = Math.floor(h / (qHeads / kvHeads));
    const head = (t) => ({
      data: Float64Array.from(t.data.subarray(kh * kvLen * d, (kh + 1) * kvLen * d), (x) =>
        decode(x, c.dtype),
      ),
      shape: [1, 1, kvLen, d],
      layout: "bhsd",
    });
    const expected = attentionReference(
      { data: q.data.subarray(h * d, (h + 1) * d), shape: [1, 1, 1, d], layout: "bhsd" },
      head(c.k),
      head(c.v),
      { causal: true },
    ).output.data;
    error = Math.max(error, maxRelativeError(out.output.data.subarray(h * d, (h + 1) * d), expected));
  }
  errors[c.dtype] = error;
  // f32 sums over up to 32768 keys whose values largely cancel: ~1e-4 of the (small) largest output.
  if (!(error < 1e-3)) throw new Error(`decode ${c.dtype}: max relative error ${error} vs the f64 reference`);
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
