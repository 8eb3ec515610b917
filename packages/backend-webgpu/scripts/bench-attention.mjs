// Times webgpu attention on one shape (default 8 heads × 1024 × 64, causal and not) after a warm-up call
// that compiles the kernels. Usage: node scripts/bench-attention.mjs [heads] [seq] [dim] [runs]
// Needs `pnpm build` first; on a machine without a GPU driver set VK_ICD_FILENAMES to SwiftShader's ICD.
// A measurement, not a test: the cross-backend comparison belongs to the bench app.
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";

const swiftshader = "/usr/lib/chromium/vk_swiftshader_icd.json";
if (!process.env.VK_ICD_FILENAMES && !process.env.ROPEKIT_WEBGPU_NATIVE && existsSync(swiftshader)) {
  process.env.VK_ICD_FILENAMES = swiftshader;
}
process.env.XDG_RUNTIME_DIR ??= "/tmp";
const { createWebgpuBackend } = await import("../dist/index.js");

const [heads, seq, dim, runs] = process.argv.slice(2).map(Number);
const H = heads || 8;
const S = seq || 1024;
const D = dim || 64;
const N = runs || 3;
const backend = await createWebgpuBackend();
const t = (s) => ({
  data: Float32Array.from({ length: H * S * D }, (_, i) => Math.sin(s + i * 0.37)),
  shape: [1, H, S, D],
  layout: "bhsd",
});
const [q, k, v] = [t(1), t(2), t(3)];
console.log(`${backend.describe().mode}: attention ${H} × ${S} × ${D}`);
for (const causal of [false, true]) {
  await backend.attention(q, k, v, { causal });
  const times = [];
  for (let r = 0; r < N; r++) {
    const t0 = performance.now();
    await backend.attention(q, k, v, { causal });
    times.push(performance.now() - t0);
  }
  const best = Math.min(...times);
  const flops = 4 * H * S * S * D * (causal ? 0.5 : 1);
  console.log(
    `  causal=${causal}: best ${best.toFixed(1)} ms of ${N} (${(flops / best / 1e6).toFixed(2)} GFLOP/s)`,
  );
}
backend.dispose();
