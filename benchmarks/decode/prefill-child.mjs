// Prefill attention on backend-wasm, 8 heads × 2048 × 64 causal, with q, k, v in f32 and in each half
// dtype given, interleaved round by round in one process (medians):
//   node prefill-child.mjs <dtypes, comma-separated> <threads> <runs>   → JSON
// The last 16 rows of head 0 are checked against core's f64 reference (on the same rounded inputs) first.
import { createWasmBackend } from "@ropekit/backend-wasm";
import { attentionReference, halfBits, halfValue, maxRelativeError } from "@ropekit/core";
import { median } from "./cache.mjs";

const dtypes = (process.argv[2] ?? "float32,bfloat16").split(",");
const threads = Number(process.argv[3] ?? 1);
const runs = Number(process.argv[4] ?? 5);
const [H, S, D] = [8, 2048, 64];
const backend = await createWasmBackend({ threads });
const fill = (seed) => Float32Array.from({ length: H * S * D }, (_, i) => Math.sin(i * 0.37 + seed));
const f32 = { q: fill(1), k: fill(2), v: fill(3) };
const shape = [1, H, S, D];
const inputs = dtypes.map((dtype) => {
  const t = (x) =>
    dtype === "float32"
      ? { data: x, shape, layout: "bhsd" }
      : { data: Uint16Array.from(x, (y) => halfBits(y, dtype)), shape, layout: "bhsd", dtype };
  return { dtype, q: t(f32.q), k: t(f32.k), v: t(f32.v) };
});
const half = (dtype) => dtype === "float16" || dtype === "bfloat16";
const values = (t) => (half(t.dtype) ? Float64Array.from(t.data, (x) => halfValue(x, t.dtype)) : t.data);
const errors = {};
for (const c of inputs) {
  const out = await backend.attention(c.q, c.k, c.v, { causal: true });
  const rows = 16;
  const head0 = (t, from, count) => ({
    data: values(t).subarray(from * D, (from + count) * D),
    shape: [1, 1, count, D],
    layout: "bhsd",
  });
  const expected = attentionReference(head0(c.q, S - rows, rows), head0(c.k, 0, S), head0(c.v, 0, S), {
    causal: true,
  }).output.data;
  const got = values(out.output).subarray((S - rows) * D, S * D);
  // Against the reference rounded to the output's dtype: a half output is one rounding off by design.
  const rounded =
    c.dtype === "float32" ? expected : expected.map((x) => halfValue(halfBits(x, c.dtype), c.dtype));
  errors[c.dtype] = maxRelativeError(got, rounded);
  if (!(errors[c.dtype] < (c.dtype === "float32" ? 1e-4 : 2e-2)))
    throw new Error(`prefill ${c.dtype}: max relative error ${errors[c.dtype]}`);
}
const times = Object.fromEntries(dtypes.map((t) => [t, []]));
for (let r = 0; r < runs; r++) {
  for (const c of inputs) {
    const t0 = performance.now();
    await backend.attention(c.q, c.k, c.v, { causal: true });
    times[c.dtype].push(performance.now() - t0);
  }
}
console.log(
  JSON.stringify({
    shape: [H, S, D],
    threads,
    results: dtypes.map((dtype) => ({
      dtype,
      maxRelativeErrorVsF64: errors[dtype],
      ms: median(times[dtype]),
      times: times[dtype],
    })),
  }),
);
backend.dispose();
