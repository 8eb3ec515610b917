#!/usr/bin/env node
// Reproduces why browser-ort-webgpu withholds `subgroups` from onnxruntime-web's WebGPU EP on SwiftShader
// (see @ropekit/benchmarks' contenders/ort-webgpu-device.mjs): the bench's MultiHeadAttention graph, on
// the bench's inputs, checked by the bench's gate against core's f64 reference, once on the device the EP
// makes for itself and once on the bench's device. Prints one line per shape and a table.
//   node src/ort-webgpu-subgroups.mjs            (pnpm --filter @ropekit/bench ort-webgpu-subgroups)
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { intAttr, onnxModel, value } from "@ropekit/benchmarks/peers/onnx";
import { GATE_TOLERANCE, workload } from "@ropekit/benchmarks/workloads";
import { chromium } from "playwright-core";
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from "../../../tools/chromium.mjs";

const ortDist = dirname(
  createRequire(fileURLToPath(import.meta.resolve("@ropekit/benchmarks/package.json"))).resolve(
    "onnxruntime-web/webgpu",
  ),
);
const deviceModule = fileURLToPath(import.meta.resolve("@ropekit/benchmarks/contenders/ort-webgpu-device"));

// The page: onnxruntime-web's WebGPU build, and the bench's device module, both served as they are.
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as ort from "/ort/ort.webgpu.min.mjs";
import { ortWebgpuDevice } from "/device.mjs";
ort.env.wasm.numThreads = 1;
window.adapterInfo = async () => {
  const { info, features } = await navigator.gpu.requestAdapter();
  return { description: info.vendor + " " + info.architecture, subgroups: features.has("subgroups"), sizes: [info.subgroupMinSize, info.subgroupMaxSize] };
};
window.runMha = async ({ model, feeds, ownDevice }) => {
  const ep = ownDevice ? "webgpu" : { name: "webgpu", device: (await ortWebgpuDevice()).device };
  const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: [ep] });
  const tensors = {};
  for (const [name, { data, dims }] of Object.entries(feeds))
    tensors[name] = new ort.Tensor("float32", new Float32Array(data), dims);
  const out = Array.from((await session.run(tensors)).o.data);
  await session.release();
  return out;
};
window.ready = true;
</script>`;

const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};
const server = createServer(async (req, res) => {
  const path = new URL(req.url, "http://localhost").pathname;
  const file = path.startsWith("/ort/")
    ? join(ortDist, path.slice(5).replace(/\.\.+/g, ""))
    : path === "/device.mjs"
      ? deviceModule
      : undefined;
  const type = path.endsWith(".wasm") ? "application/wasm" : path === "/" ? "text/html" : "text/javascript";
  try {
    const body = file ? await readFile(file) : path === "/" ? PAGE : undefined;
    if (body === undefined) throw new Error("not found");
    res.writeHead(200, { "content-type": type, ...isolation }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));

/** The bench's attention configuration (bshd, 8 heads × 64) at q = kv length `S`. */
const config = (S, causal) => ({
  id: `attention/${S}`,
  op: "attention",
  layout: "bshd",
  batch: 1,
  qLen: S,
  kvLen: S,
  qHeads: 8,
  kvHeads: 8,
  headDim: 64,
  causal,
});

const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS });
const rows = [];
try {
  const lengths = (process.argv[2] ?? "16,31,32,64,1024").split(",").map(Number);
  for (const ownDevice of [true, false]) {
    // A fresh page per device: onnxruntime-web keeps the first device it is given.
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.ready === true);
    if (ownDevice) console.log("adapter:", JSON.stringify(await page.evaluate(() => window.adapterInfo())));
    for (const S of lengths) {
      for (const causal of [true, false]) {
        const c = config(S, causal);
        const w = workload(c);
        const dims = [1, S, c.qHeads * c.headDim];
        const model = onnxModel({
          nodes: [
            {
              op_type: "MultiHeadAttention",
              domain: "com.microsoft",
              input: ["q", "k", "v"],
              output: ["o"],
              attribute: [intAttr("num_heads", c.qHeads), intAttr("unidirectional", causal ? 1 : 0)],
            },
          ],
          inputs: [value("q", dims), value("k", dims), value("v", dims)],
          outputs: [value("o", dims)],
        });
        const feeds = Object.fromEntries(
          ["q", "k", "v"].map((n) => [n, { data: Array.from(w.inputs[n]), dims }]),
        );
        const out = await page.evaluate((a) => window.runMha(a), {
          model: Array.from(model),
          feeds,
          ownDevice,
        });
        const error = w.gate(Float32Array.from(out));
        const row = {
          device: ownDevice ? "ORT's own (subgroups)" : "bench's (ort-webgpu-device.mjs)",
          S,
          causal,
          error: Number(error.toPrecision(2)),
          gate: error <= GATE_TOLERANCE ? "pass" : "WRONG",
        };
        console.log(JSON.stringify(row));
        rows.push(row);
      }
    }
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
console.table(rows);
