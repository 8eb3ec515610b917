// Memory-bound targets of backend-wasm, each interleaved with its ceiling in the same process:
// RoPE [1, 4096, 32, 128] in place (resident and plain arrays) and decode (qLen 1 against 8192 cached
// positions, 32 query / 8 kv heads × 128), against a copy of the same bytes inside the wasm memory.
//   node bandwidth-child.mjs <threads> <runs>   → JSON
import { createWasmBackend } from "@ropekit/backend-wasm";
import { applyRopeReference, maxRelativeError, ropeSpec } from "@ropekit/core";

const threads = Number(process.argv[2] ?? 1);
const runs = Number(process.argv[3] ?? 9);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const time = (f) => {
  const t0 = performance.now();
  const r = f();
  return r instanceof Promise ? r.then(() => performance.now() - t0) : performance.now() - t0;
};
const backend = await createWasmBackend({ threads });
const result = { threads, mode: backend.describe().mode };

// RoPE in place.
const spec = ropeSpec({ headDim: 128, base: 500000 });
const shape = [1, 4096, 32, 128];
const n = 4096 * 32 * 128;
const x = backend.tensor(shape, "bshd");
x.data.set(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.001)));
const check = applyRopeReference(
  { data: x.data.slice(0, 32 * 128 * 8), shape: [1, 8, 32, 128], layout: "bshd" },
  spec,
);
await backend.applyRope({ data: x.data, shape, layout: "bshd" }, spec, { inPlace: true });
result.ropeError = maxRelativeError(x.data.subarray(0, 32 * 128 * 8), check.data);
const plain = new Float32Array(n).fill(0.25);
const copyTarget = backend.tensor([n]);
const copy = (from, count) => {
  const view = new Float32Array(copyTarget.data.buffer);
  view.copyWithin(copyTarget.ptr >> 2, from >> 2, (from >> 2) + count);
};
const rope = { resident: [], plain: [], copy: [] };
for (let r = 0; r < runs; r++) {
  rope.resident.push(
    await time(() => backend.applyRope({ data: x.data, shape, layout: "bshd" }, spec, { inPlace: true })),
  );
  rope.copy.push(time(() => copy(x.ptr, n)));
  rope.plain.push(
    await time(() => backend.applyRope({ data: plain, shape, layout: "bshd" }, spec, { inPlace: true })),
  );
}
const ropeBytes = 2 * n * 4; // read and write
result.rope = {
  residentMs: median(rope.resident),
  plainMs: median(rope.plain),
  copyMs: median(rope.copy),
  residentGBs: ropeBytes / median(rope.resident) / 1e6,
  copyGBs: ropeBytes / median(rope.copy) / 1e6,
  residentVsCopy: median(rope.copy) / median(rope.resident),
  plainVsCopy: median(rope.copy) / median(rope.plain),
};
x.dispose();

// Decode against a resident cache.
const KV = 8192;
const kvBytes = 2 * 8 * KV * 128 * 4;
const k = backend.tensor([1, 8, KV, 128], "bhsd");
const v = backend.tensor([1, 8, KV, 128], "bhsd");
k.data.set(Float32Array.from({ length: 8 * KV * 128 }, (_, i) => Math.sin(i * 0.01)));
v.data.set(Float32Array.from({ length: 8 * KV * 128 }, (_, i) => Math.cos(i * 0.01)));
const q = {
  data: Float32Array.from({ length: 32 * 128 }, (_, i) => Math.sin(i)),
  shape: [1, 32, 1, 128],
  layout: "bhsd",
};
const kv = (t) => ({ data: t.data, shape: t.shape, layout: "bhsd" });
const decode = { step: [], copy: [] };
for (let r = 0; r < runs; r++) {
  decode.step.push(await time(() => backend.attention(q, kv(k), kv(v), { causal: true })));
  decode.copy.push(
    time(() => {
      copy(k.ptr, 8 * KV * 128);
      copy(v.ptr, 8 * KV * 128);
    }),
  );
}
// Bytes of K and V read per step, against the copy of the same bytes (read + write).
result.decode = {
  stepMs: median(decode.step),
  copyMs: median(decode.copy),
  kvGBs: kvBytes / median(decode.step) / 1e6,
  copyGBs: (2 * kvBytes) / median(decode.copy) / 1e6,
  vsCopy: median(decode.copy) / median(decode.step),
};
backend.dispose();
console.log(JSON.stringify(result));
