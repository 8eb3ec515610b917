// One attention contender in its own process (peak RSS and thread settings are its own):
//   node attention-child.mjs <contender> <S> <runs>
// contender: ropekit-wasm-1 | ropekit-wasm-2 | ropekit-js | ort-web-1 | ort-web-2 | tfjs-wasm
// Causal attention, [1, 8 heads, S, 64], bshd (the layout ORT's MultiHeadAttention takes). Output checked
// against the f64 reference on head 0 before timing; prints JSON.
import { attentionReference, maxRelativeError } from "@ropekit/core";

const [contender, S, runs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 5)];
const H = 8;
const D = 64;
const n = S * H * D;
const fill = (seed) => Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * seed) * 0.5);
const [q, k, v] = [fill(0.37), fill(0.11), fill(0.23)];
const tensor = (data) => ({ data, shape: [1, S, H, D], layout: "bshd" });

async function contenderRun() {
  if (contender.startsWith("ropekit-")) {
    let backend;
    if (contender === "ropekit-js") backend = (await import("@ropekit/backend-js")).createJsBackend();
    else
      backend = await (await import("@ropekit/backend-wasm")).createWasmBackend({
        threads: Number(contender.at(-1)),
      });
    return async () =>
      (await backend.attention(tensor(q), tensor(k), tensor(v), { causal: true })).output.data;
  }
  if (contender.startsWith("ort-web-")) {
    const ort = await import("onnxruntime-web");
    const { onnxModel, value, intAttr } = await import("./onnx.mjs");
    ort.env.wasm.numThreads = Number(contender.at(-1));
    const model = onnxModel({
      nodes: [
        {
          op_type: "MultiHeadAttention",
          domain: "com.microsoft",
          input: ["q", "k", "v"],
          output: ["o"],
          attribute: [intAttr("num_heads", H), intAttr("unidirectional", 1)],
        },
      ],
      inputs: [value("q", [1, S, H * D]), value("k", [1, S, H * D]), value("v", [1, S, H * D])],
      outputs: [value("o", [1, S, H * D])],
    });
    const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    const t = (data) => new ort.Tensor("float32", data, [1, S, H * D]);
    return async () => (await session.run({ q: t(q), k: t(k), v: t(v) })).o.data;
  }
  if (contender === "tfjs-wasm") {
    const tf = await import("@tensorflow/tfjs-core");
    await import("@tensorflow/tfjs-backend-wasm");
    await tf.setBackend("wasm");
    const mask = tf.tidy(() => tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([S, S]), -1, 0), 1), 1e9));
    return async () =>
      tf.tidy(() => {
        const t = (data) => tf.transpose(tf.tensor4d(data, [1, S, H, D]), [0, 2, 1, 3]);
        const scores = tf.add(tf.mul(tf.matMul(t(q), t(k), false, true), 1 / Math.sqrt(D)), mask);
        return tf.transpose(tf.matMul(tf.softmax(scores), t(v)), [0, 2, 1, 3]).dataSync();
      });
  }
  throw new Error(`unknown contender ${contender}`);
}

const run = await contenderRun();
// Correctness first: the last rows of head 0 against the f64 reference (as a decode step against the
// whole sequence, which bottom-right causal alignment makes identical to those prefill rows).
const out = await run();
const rows = Math.min(S, 128);
const head0 = (a, from, count) =>
  Float32Array.from({ length: count * D }, (_, j) => a[(from + Math.floor(j / D)) * H * D + (j % D)]);
const kv = (a) => ({ data: head0(a, 0, S), shape: [1, S, 1, D], layout: "bshd" });
const ref = attentionReference(
  { data: head0(q, S - rows, rows), shape: [1, rows, 1, D], layout: "bshd" },
  kv(k),
  kv(v),
  {
    causal: true,
  },
).output.data;
const error = maxRelativeError(head0(out, S - rows, rows), ref);
const times = [];
if (error <= 1e-3) {
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
}
console.log(JSON.stringify({ contender, S, error, times, peakRss: process.resourceUsage().maxRSS * 1024 }));
process.exit(0);
