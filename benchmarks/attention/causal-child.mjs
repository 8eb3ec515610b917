// One causal attention configuration in its own process: peak RSS is this run's alone.
//   node --expose-gc causal-child.mjs <seq> <heads> <headDim> <runs>
// Prints JSON: times of every run, peak RSS, RSS before the first run.
import { createJsBackend } from "@ropekit/backend-js";

const [seq, heads, headDim, runs] = process.argv.slice(2, 6).map(Number);
const n = heads * seq * headDim;
const fill = (seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * seed) * 0.5);
const tensor = (data) => ({ data, shape: [1, heads, seq, headDim], layout: "bhsd" });
const q = tensor(fill(0.37));
const k = tensor(fill(0.11));
const v = tensor(fill(0.23));
const backend = createJsBackend();

globalThis.gc?.();
const rssBefore = process.memoryUsage().rss;
const times = [];
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  const { output } = backend.sync.attention(q, k, v, { causal: true });
  times.push(performance.now() - t0);
  if (!Number.isFinite(output.data[output.data.length - 1])) throw new Error("non-finite output");
}
console.log(
  JSON.stringify({ seq, heads, headDim, times, rssBefore, peakRss: process.resourceUsage().maxRSS * 1024 }),
);
