// One-shot GPU check and bench for backend-webgpu through Dawn, run by benchmarks/device/run.sh on a lent
// machine (it also runs here on SwiftShader with --quick, to test the script itself). Prints one line per
// result, prefixed PASS/FAIL for checks and BENCH for timings, and a JSON summary at the end (also to the
// file named by --json). Exit status 0 only if every check passed and the adapter is what was asked for.
//
//   node device-bench.mjs [--quick] [--allow-software] [--json FILE]
//
// What is measured: whole `backend.attention` calls (host arrays in, host arrays out), i.e. including the
// CPU flag pass, uploads and readback: the backend has no resident tensors yet, so these are end-to-end
// figures, not kernel times. The copy ceiling is GPU-only (a WGSL copy timed by queue completion).
import { performance } from "node:perf_hooks";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const allowSoftware = args.includes("--allow-software");
const jsonAt = args.indexOf("--json");
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
process.env.XDG_RUNTIME_DIR ??= "/tmp";

const { createWebgpuBackend } = await import("@ropekit/backend-webgpu");
const { createReferenceBackend } = await import("@ropekit/core");

const summary = { adapter: undefined, checks: [], bench: [], ceilings: [], failures: 0 };
const log = (line) => console.log(line);
const fail = (what, detail) => {
  summary.failures++;
  summary.checks.push({ what, ok: false, detail });
  log(`FAIL ${what}: ${detail}`);
};
const pass = (what, detail) => {
  summary.checks.push({ what, ok: true, detail });
  log(`PASS ${what}: ${detail}`);
};

function tensor(seed, batch, seq, heads, dim) {
  const data = new Float32Array(batch * seq * heads * dim);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed + i * 0.37);
  return { data, shape: [batch, heads, seq, dim], layout: "bhsd" };
}

function maxRel(a, e) {
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i] - e[i]) / Math.max(1, Math.abs(e[i]));
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

/** f64 attention of a few rows (bhsd, 1 batch, scale 1/√d, causal top-left aligned when qLen = kvLen). */
function sampleRows(q, k, v, heads, kvHeads, qLen, kvLen, d, causal, out, rows) {
  let worst = 0;
  const group = heads / kvHeads;
  for (const [h, i] of rows) {
    const kvh = Math.floor(h / group);
    const hi = causal ? kvLen - qLen + i + 1 : kvLen;
    const s = new Float64Array(hi);
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < hi; j++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[(h * qLen + i) * d + c] * k[(kvh * kvLen + j) * d + c];
      s[j] = dot / Math.sqrt(d);
      m = Math.max(m, s[j]);
    }
    let l = 0;
    for (let j = 0; j < hi; j++) l += Math.exp(s[j] - m);
    for (let c = 0; c < d; c++) {
      let acc = 0;
      for (let j = 0; j < hi; j++) acc += Math.exp(s[j] - m) * v[(kvh * kvLen + j) * d + c];
      const e = acc / l;
      const got = out[(h * qLen + i) * d + c];
      worst = Math.max(worst, Math.abs(got - e) / Math.max(1, Math.abs(e)));
    }
  }
  return worst;
}

async function timed(fn, runs) {
  await fn();
  const times = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return Math.min(...times);
}

// ---- 1. adapter -------------------------------------------------------------------------------------
let backend;
try {
  backend = await createWebgpuBackend();
} catch (error) {
  log(`FAIL adapter: ${error?.code ?? ""} ${error?.message ?? error}`);
  process.exit(2);
}
const a = backend.adapter;
summary.adapter = a;
log(
  `ADAPTER ${backend.describe().mode}: vendor=${a.vendor} architecture=${a.architecture} device=${a.device} description=${a.description} fallback=${a.isFallbackAdapter} f16=${a.shaderF16} subgroups=${a.subgroups}`,
);
if (a.software && !allowSoftware) {
  fail(
    "adapter",
    "a software/fallback adapter: the NVIDIA Vulkan driver was not found (see run.sh's ICD notes)",
  );
  console.log(JSON.stringify(summary));
  process.exit(3);
}

// ---- 2. conformance subset: every attention kernel against core's f64 reference ---------------------
const reference = createReferenceBackend();
const cases = [
  ["prefill GQA 8:2 causal d64", 1, 8, 2, 200, 200, 64, { causal: true }],
  [
    "prefill d128 window 33 ALiBi",
    1,
    4,
    4,
    150,
    150,
    128,
    { causal: true, window: 33, alibiSlopes: [0.5, 0.25, 0.125, 0.0625] },
  ],
  [
    "prefill d80 soft-cap mask",
    2,
    2,
    1,
    97,
    97,
    80,
    {
      softcap: 20,
      mask: {
        data: Float32Array.from({ length: 97 * 97 }, (_, i) => (i % 7 === 0 ? -1e9 : Math.cos(i))),
        shape: [1, 1, 97, 97],
      },
    },
  ],
  ["prefill d256 (looped kernel)", 1, 2, 2, 70, 70, 256, { causal: true }],
  ["decode 1 × 3000 GQA 8:2", 1, 8, 2, 1, 3000, 128, { causal: true }],
  ["decode 4 × 1025 bottom-right", 1, 4, 4, 4, 1025, 64, { causal: true, softcap: 30 }],
];
for (const fk of ["auto", "tiled", "lanes", "looped"]) {
  const be = fk === "auto" ? backend : await createWebgpuBackend({ flashKernel: fk });
  for (const [name, batch, hq, hk, qLen, kvLen, d, options] of cases) {
    if (fk !== "auto" && name.startsWith("decode")) continue;
    const what = `attention ${name} [${fk}]`;
    try {
      const q = tensor(1, batch, qLen, hq, d);
      const k = tensor(2, batch, kvLen, hk, d);
      const v = tensor(3, batch, kvLen, hk, d);
      const o = { ...options, returnLse: true };
      const [got, want] = await Promise.all([be.attention(q, k, v, o), reference.attention(q, k, v, o)]);
      const err = Math.max(maxRel(got.output.data, want.output.data), maxRel(got.lse, want.lse));
      if (err <= 1e-5) pass(what, `max error ${err.toExponential(2)}`);
      else fail(what, `max error ${err.toExponential(2)} > 1e-5`);
    } catch (error) {
      fail(what, `${error?.code ?? ""} ${error?.message ?? error}`);
    }
  }
  if (be !== backend) be.dispose();
}

let matmulTflops; // set by the ceilings below
// ---- 3. ceilings --------------------------------------------------------------------------------------
{
  // The backend does not expose its device; make a second one on the same adapter for the copy ceiling.
  const { create, globals } = await import("webgpu");
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  const dev = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  const n = quick ? 1 << 22 : 1 << 26; // f32 elements per buffer (256 MiB on a GPU)
  const module = dev.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * 256u;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}`,
  });
  const pipeline = await dev.createComputePipelineAsync({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const src = dev.createBuffer({ size: n * 4, usage: 128 | 8 });
  const dst = dev.createBuffer({ size: n * 4, usage: 128 | 4 });
  const bg = dev.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: src } },
      { binding: 1, resource: { buffer: dst } },
    ],
  });
  const groups = n / 4 / 256;
  const x = Math.min(groups, 65535);
  const reps = 10;
  const run = async () => {
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    for (let r = 0; r < reps; r++) pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    pass.end();
    dev.queue.submit([enc.finish()]);
    await dev.queue.onSubmittedWorkDone();
  };
  const ms = await timed(run, 3);
  const gbs = (2 * n * 4 * reps) / ms / 1e6;
  summary.ceilings.push({ what: "wgsl copy", bytes: 2 * n * 4, ms: ms / reps, gbs });
  log(
    `CEILING wgsl copy ${(n * 4) / 2 ** 20} MiB: ${(ms / reps).toFixed(3)} ms per copy, ${gbs.toFixed(1)} GB/s (read + write)`,
  );
  dev.destroy();
  // The WGSL f32 matmul ceiling (the bench's: a tiled kernel for GPUs, a barrier-free one for software
  // adapters; the faster counts), next to this script in the carry, or in the repository.
  let ceilings;
  try {
    ceilings = await import("./webgpu-ceilings.mjs");
  } catch {
    ceilings = await import("../../../benchmarks/src/ceilings/webgpu.mjs");
  }
  const measured = await ceilings.measureWebgpuCeilings({ gpu, quick });
  summary.ceilings.push({
    what: "wgsl f32 matmul",
    n: measured.matmulN,
    gflops: measured.matmulGflops,
    variants: measured.matmulVariants,
  });
  matmulTflops = measured.matmulGflops / 1000;
  log(
    `CEILING wgsl f32 matmul ${measured.matmulN}²: ${matmulTflops.toFixed(3)} TFLOP/s (${Object.entries(
      measured.matmulVariants,
    )
      .map(([k, g]) => `${k} ${(g / 1000).toFixed(3)}`)
      .join(", ")})`,
  );
}

// ---- 4. bench grid ------------------------------------------------------------------------------------
const H = 8;
const D = 64;
const prefill = quick ? [256, 512] : [1024, 2048, 4096, 8192, 16384, 32768];
for (const S of prefill) {
  const q = tensor(1, 1, S, H, D);
  const k = tensor(2, 1, S, H, D);
  const v = tensor(3, 1, S, H, D);
  for (const causal of [false, true]) {
    const runs = S >= 16384 ? 2 : 3;
    let out;
    const ms = await timed(async () => {
      out = await backend.attention(q, k, v, { causal });
    }, runs);
    const flops = 4 * H * S * S * D * (causal ? 0.5 : 1);
    const rows = [
      [0, 0],
      [H - 1, S - 1],
      [3, S >> 1],
      [5, 17 % S],
    ];
    const err = sampleRows(q.data, k.data, v.data, H, H, S, S, D, causal, out.output.data, rows);
    const what = `prefill ${H} × ${S} × ${D} causal=${causal}`;
    if (!(err <= 1e-4)) fail(`${what} (sampled rows vs f64)`, `max error ${err}`);
    const vsMatmul = matmulTflops ? flops / ms / 1e9 / matmulTflops : undefined;
    summary.bench.push({ what, ms, tflops: flops / ms / 1e9, vsMatmul, sampledError: err });
    log(
      `BENCH ${what}: ${ms.toFixed(1)} ms end-to-end, ${(flops / ms / 1e9).toFixed(3)} TFLOP/s${vsMatmul ? ` (${(100 * vsMatmul).toFixed(1)}% of the WGSL matmul)` : ""}, sampled rows error ${err.toExponential(1)}`,
    );
  }
}
const decode = quick ? [1024] : [8192, 32768];
for (const L of decode) {
  const hq = 32;
  const hk = 8;
  const d = 128;
  const q = tensor(1, 1, 1, hq, d);
  const k = tensor(2, 1, L, hk, d);
  const v = tensor(3, 1, L, hk, d);
  let out;
  const ms = await timed(async () => {
    out = await backend.attention(q, k, v, { causal: true });
  }, 5);
  const bytes = 2 * hk * L * d * 4;
  const err = sampleRows(q.data, k.data, v.data, hq, hk, 1, L, d, true, out.output.data, [
    [0, 0],
    [31, 0],
    [9, 0],
  ]);
  const what = `decode 1 × ${L}, ${hq}:${hk} heads × ${d}`;
  if (!(err <= 1e-4)) fail(`${what} (sampled rows vs f64)`, `max error ${err}`);
  summary.bench.push({ what, ms, gbs: bytes / ms / 1e6, sampledError: err });
  log(
    `BENCH ${what}: ${ms.toFixed(2)} ms end-to-end, K+V ${(bytes / 2 ** 20).toFixed(0)} MiB → ${(bytes / ms / 1e6).toFixed(1)} GB/s, sampled rows error ${err.toExponential(1)}`,
  );
}
// The same prefill through the other kernels, where they stay short.
for (const fk of ["tiled", "lanes", "looped"]) {
  const be = await createWebgpuBackend({ flashKernel: fk });
  for (const S of quick ? [256] : [1024, 4096]) {
    const q = tensor(1, 1, S, H, D);
    const k = tensor(2, 1, S, H, D);
    const v = tensor(3, 1, S, H, D);
    const ms = await timed(() => be.attention(q, k, v, { causal: true }), 2);
    const flops = 2 * H * S * S * D;
    const what = `prefill ${H} × ${S} × ${D} causal=true [${fk}]`;
    summary.bench.push({ what, ms, tflops: flops / ms / 1e9 });
    log(`BENCH ${what}: ${ms.toFixed(1)} ms end-to-end, ${(flops / ms / 1e9).toFixed(3)} TFLOP/s`);
  }
  be.dispose();
}

backend.dispose();
log(
  `SUMMARY ${summary.failures === 0 ? "ALL CHECKS PASSED" : `${summary.failures} FAILED`}: ${summary.checks.length} checks, ${summary.bench.length} timings`,
);
if (jsonFile) {
  const { writeFileSync } = await import("node:fs");
  writeFileSync(jsonFile, JSON.stringify(summary, null, 2));
}
process.exit(summary.failures === 0 ? 0 : 1);
