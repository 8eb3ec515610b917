// The GPU's own ceilings, measured in the same run as the WebGPU contenders, on a device of the same
// adapter: a WGSL copy (memory bandwidth, read + write) and a tuned WGSL f32 matmul (compute). Times are
// from submit to onSubmittedWorkDone over several dispatches in one pass, so launch overhead is amortised.
// Runs in Node (Dawn, the `webgpu` package) and in the browser (navigator.gpu).

const STORAGE = 128;
const COPY_SRC = 4;
const COPY_DST = 8;

/** The runtime's GPU object: navigator.gpu in a browser, Dawn's in Node. */
export async function runtimeGpu() {
  if (globalThis.navigator?.gpu) return globalThis.navigator.gpu;
  const specifier = ["web", "gpu"].join(""); // not bundled: browsers never get here
  const { create, globals } = await import(/* @vite-ignore */ specifier);
  Object.assign(globalThis, globals);
  return create([]);
}

const COPY = `@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * 256u;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}`;

// C = A·B for N×N row-major f32 (N a multiple of 64): 64×64 tiles of C per workgroup of 16×16 threads,
// each thread a 4×4 block in registers; A and B tiles of 64×16 staged in workgroup memory, B read as vec4.
const MATMUL = `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4f>;
override N: u32;
const T = 64u;
const K = 16u;
var<workgroup> ta: array<array<f32, 64>, 16>;  // [k][row]
var<workgroup> tb: array<array<vec4f, 16>, 16>; // [k][col / 4]
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let row0 = wg.y * T;
  let col0 = wg.x * T;
  let tid = l.y * 16u + l.x;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < N; k0 += K) {
    // 256 threads load 64×16 of A (4 each) and 16×64 of B (one vec4 each).
    for (var i = 0u; i < 4u; i++) {
      let e = tid * 4u + i;
      let r = e / K;
      let kk = e % K;
      ta[kk][r] = a[(row0 + r) * N + k0 + kk];
    }
    let kb = tid / 16u;
    let cb = tid % 16u;
    tb[kb][cb] = b[((k0 + kb) * N + col0) / 4u + cb];
    workgroupBarrier();
    for (var kk = 0u; kk < K; kk++) {
      let bv = tb[kk][l.x];
      for (var i = 0u; i < 4u; i++) {
        acc[i] += ta[kk][l.y * 4u + i] * bv;
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    c[((row0 + l.y * 4u + i) * N + col0) / 4u + l.x] = acc[i];
  }
}`;

// The same product for CPU-emulated adapters (SwiftShader), which run barriers and workgroup memory as
// dear context switches and spill dynamically indexed arrays: no workgroup memory, every loop that
// indexes registers unrolled. Each invocation owns 4 adjacent columns of C (one vec4 of B's row per k,
// contiguous across lanes) for the workgroup's 8 rows, whose A elements are the same for every lane (one
// load, broadcast). GPUs prefer the tiled kernel above; the ceiling is the faster of the two.
const ROWS = 8;
const rows = Array.from({ length: ROWS }, (_, i) => i);
const MATMUL_LANES = `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4f>;
override N: u32;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let c4 = wg.x * 64u + l.x;
  let r0 = wg.y * ${ROWS}u;
${rows.map((i) => `  var acc${i} = vec4f(0.0);`).join("\n")}
  for (var k = 0u; k < N; k++) {
    let bv = b[k * N / 4u + c4];
${rows.map((i) => `    acc${i} += a[(r0 + ${i}u) * N + k] * bv;`).join("\n")}
  }
${rows.map((i) => `  c[(r0 + ${i}u) * N / 4u + c4] = acc${i};`).join("\n")}
}`;

/** A few entries of C against the CPU: a wrong product gets no figure. */
async function checkProduct(device, cb, am, bm, N, name) {
  const read = device.createBuffer({ size: N * N * 4, usage: 1 | COPY_DST });
  const e = device.createCommandEncoder();
  e.copyBufferToBuffer(cb, 0, read, 0, N * N * 4);
  device.queue.submit([e.finish()]);
  await read.mapAsync(1);
  const out = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  read.destroy();
  for (const [r, col] of [
    [0, 0],
    [N - 1, N - 1],
    [N >> 1, 3],
    [7, N - 5],
  ]) {
    let want = 0;
    for (let k = 0; k < N; k++) want += am[r * N + k] * bm[k * N + col];
    if (!(Math.abs(out[r * N + col] - want) <= 1e-3 * N)) {
      throw new Error(`WGSL ${name} matmul computed C[${r}][${col}] = ${out[r * N + col]}, expected ${want}`);
    }
  }
}

async function timeBest(device, encode, runs) {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const encoder = device.createCommandEncoder();
    encode(encoder);
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function pass(encoder, pipeline, group, x, y, reps) {
  const p = encoder.beginComputePass();
  p.setPipeline(pipeline);
  p.setBindGroup(0, group);
  for (let r = 0; r < reps; r++) p.dispatchWorkgroups(x, y);
  p.end();
}

function bindings(device, pipeline, buffers) {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}

/**
 * Copy GB/s (read + write) and matmul GFLOP/s of the adapter `gpu` gives. `software` adapters get
 * small sizes (SwiftShader computes on the CPU); checks the matmul against a CPU product on a few entries.
 */
export async function measureWebgpuCeilings({ gpu, quick = true } = {}) {
  const g = gpu ?? (await runtimeGpu());
  const adapter = await g.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter for the ceilings");
  const info = adapter.info ?? {};
  const software =
    adapter.info?.isFallbackAdapter ||
    /swiftshader|llvmpipe|lavapipe|warp/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  try {
    // Copy: 16 MiB per buffer on software adapters, 256 MiB (or the binding limit) on GPUs.
    const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    const copyBytes = Math.min(software ? 1 << 24 : 1 << 28, 2 ** Math.floor(Math.log2(limit)));
    const src = device.createBuffer({ size: copyBytes, usage: STORAGE | COPY_DST });
    const dst = device.createBuffer({ size: copyBytes, usage: STORAGE | COPY_SRC });
    const copy = await device.createComputePipelineAsync({
      layout: "auto",
      compute: { module: device.createShaderModule({ code: COPY }), entryPoint: "main" },
    });
    const groups = copyBytes / 16 / 256;
    const x = Math.min(groups, 32768);
    const copyReps = software ? 4 : 20;
    const copyGroup = bindings(device, copy, [src, dst]);
    await timeBest(device, (e) => pass(e, copy, copyGroup, x, groups / x, 1), 1); // warm-up
    const copyMs = await timeBest(
      device,
      (e) => pass(e, copy, copyGroup, x, groups / x, copyReps),
      quick ? 3 : 5,
    );
    const copyGBs = (2 * copyBytes * copyReps) / copyMs / 1e6;

    // Matmul: N = 256 on software adapters, 4096 on GPUs.
    const N = software ? 256 : 4096;
    const am = Float32Array.from({ length: N * N }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
    const bm = Float32Array.from({ length: N * N }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
    const upload = (data, usage) => {
      const buffer = device.createBuffer({ size: data.byteLength, usage, mappedAtCreation: true });
      new Float32Array(buffer.getMappedRange()).set(data);
      buffer.unmap();
      return buffer;
    };
    const ab = upload(am, STORAGE);
    const bb = upload(bm, STORAGE);
    const cb = device.createBuffer({ size: N * N * 4, usage: STORAGE | COPY_SRC });
    const mmReps = software ? 1 : 10;
    const variants = {};
    for (const [name, code, x, y] of [
      ["tiled", MATMUL, N / 64, N / 64],
      ["lanes", MATMUL_LANES, N / 256, N / ROWS],
    ]) {
      const matmul = await device.createComputePipelineAsync({
        layout: "auto",
        compute: { module: device.createShaderModule({ code }), entryPoint: "main", constants: { N } },
      });
      const group = bindings(device, matmul, [ab, bb, cb]);
      await timeBest(device, (e) => pass(e, matmul, group, x, y, 1), 1); // warm-up
      const ms = await timeBest(device, (e) => pass(e, matmul, group, x, y, mmReps), quick ? 2 : 5);
      variants[name] = (2 * N ** 3 * mmReps) / ms / 1e6;
      await checkProduct(device, cb, am, bm, N, name);
    }
    const matmulGflops = Math.max(...Object.values(variants));

    return {
      adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(" / "),
      software: Boolean(software),
      copyBytes,
      copyGBs,
      matmulN: N,
      matmulGflops,
      matmulVariants: variants,
    };
  } finally {
    device.destroy();
  }
}
