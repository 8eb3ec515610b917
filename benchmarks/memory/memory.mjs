// Memory growth under long call loops, per backend: 10 000 applyRope + 10 000 attention calls (small
// shapes, positions and options varying), then heap, RSS and wasm memory compared with the state after a
// warm-up. A benchmark, not a test: it reports, it does not assert.
//   node --expose-gc memory/memory.mjs [--calls 10000] [--backends js,wasm-1,wasm-2,gpujs-webasm]
// Results go to results/memory.json and a table on stdout.
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createGpujsBackend } from "@ropekit/backend-gpujs";
import { createJsBackend } from "@ropekit/backend-js";
import { createWasmBackend } from "@ropekit/backend-wasm";
import { createReferenceBackend, ropeSpec } from "@ropekit/core";

const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const calls = Number(arg("--calls", "10000"));
const names = arg("--backends", "reference,js,wasm-1,wasm-2,gpujs-webasm").split(",");
const makers = {
  reference: () => createReferenceBackend(),
  js: () => createJsBackend(),
  "wasm-1": () => createWasmBackend({ threads: 1 }),
  "wasm-2": () => createWasmBackend({ threads: 2 }),
  "gpujs-webasm": () => createGpujsBackend({ mode: "webasm" }),
};

const gc = globalThis.gc ?? (() => {});
const mib = (bytes) => bytes / 2 ** 20;
const snapshot = async (backend) => {
  // Two collections around a pause: array buffers are released after the collection that frees them.
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  const m = process.memoryUsage();
  return {
    heap: m.heapUsed,
    rss: m.rss,
    external: m.external + m.arrayBuffers,
    wasm: backend.memoryBytes ?? 0,
  };
};

const spec = ropeSpec({ headDim: 32 });
const heads = (seed, shape) => ({
  data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37 + seed)),
  shape,
  layout: "bhsd",
});
const x = heads(1, [1, 4, 16, 32]);
const q = heads(2, [1, 4, 8, 32]);
const k = heads(3, [1, 2, 64, 32]);
const v = heads(4, [1, 2, 64, 32]);

async function loop(backend, n) {
  // Batches of 50 in flight, as an application with several requests would have.
  for (let i = 0; i < n; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 50); j++) {
      batch.push(backend.applyRope(x, spec, { positions: (j * 13) % 4096 }));
      batch.push(backend.attention(q, k, v, { causal: true, window: 16 + (j % 32), returnLse: j % 2 === 0 }));
    }
    await Promise.all(batch);
  }
}

const rows = [];
for (const name of names) {
  const backend = await makers[name]();
  await loop(backend, 200); // warm-up: caches, pools and kernels reach their steady state
  const before = await snapshot(backend);
  const t0 = performance.now();
  await loop(backend, calls);
  const seconds = (performance.now() - t0) / 1000;
  const after = await snapshot(backend);
  const row = {
    backend: name,
    mode: backend.describe().mode,
    calls: 2 * calls,
    seconds: +seconds.toFixed(1),
    heapGrowthMiB: +mib(after.heap - before.heap).toFixed(2),
    rssGrowthMiB: +mib(after.rss - before.rss).toFixed(2),
    externalGrowthMiB: +mib(after.external - before.external).toFixed(2),
    wasmGrowthMiB: +mib(after.wasm - before.wasm).toFixed(2),
  };
  rows.push(row);
  console.error(`${name}: ${row.calls} calls in ${row.seconds} s`);
  backend.dispose();
}
console.table(rows);
const out = fileURLToPath(new URL("../results/", import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(
  `${out}memory.json`,
  `${JSON.stringify({ calls, gcExposed: globalThis.gc !== undefined, rows }, null, 2)}\n`,
);
