// ONNX Runtime peers: onnxruntime-node (native CPU) and onnxruntime-web (wasm), 1 or 2 threads, and
// onnxruntime-web's WebGPU execution provider in the browser (…-webgpu). RoPE is
// com.microsoft RotaryEmbedding (bshd, both pairings), attention com.microsoft MultiHeadAttention (causal
// via `unidirectional`, non-causal without); for the GQA decode step the kv heads are repeated to the query heads before the
// timed call, since MultiHeadAttention has no GQA.
import { floatAttr, intAttr, onnxModel, value } from "../../peers/onnx.mjs";
import { supports } from "../grid.mjs";

async function session(name, model) {
  if (name.endsWith("-webgpu")) {
    // onnxruntime-web's WebGPU execution provider: its build with WebGPU (navigator.gpu). Outputs are
    // read back to the CPU, as ropekit's are.
    const ort = await import("onnxruntime-web/webgpu");
    return { ort, s: await ort.InferenceSession.create(model, { executionProviders: ["webgpu"] }) };
  }
  const threads = Number(name.at(-1));
  if (name.startsWith("ort-node-")) {
    const ort = (await import("onnxruntime-node")).default;
    const s = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    return { ort, s };
  }
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = threads;
  return { ort, s: await ort.InferenceSession.create(model, { executionProviders: ["wasm"] }) };
}

export async function ortRun(name, config, inputs) {
  if (config.op === "rope") {
    if (!supports(name, config)) return undefined;
    const { seq: S, heads: H, headDim: D, position } = config;
    const half = D / 2;
    const maxPos = position + S;
    const model = onnxModel({
      nodes: [
        {
          op_type: "RotaryEmbedding",
          domain: "com.microsoft",
          input: ["x", "pos", "cos", "sin"],
          output: ["y"],
          attribute: [
            intAttr("interleaved", config.pairing === "interleaved" ? 1 : 0),
            intAttr("num_heads", H),
            floatAttr("scale", 1),
          ],
        },
      ],
      inputs: [
        value("x", [1, S, H * D]),
        {
          ...value("pos", [1, S]),
          type: { tensor_type: { elem_type: 7, shape: { dim: [{ dim_value: 1 }, { dim_value: S }] } } },
        },
        value("cos", [maxPos, half]),
        value("sin", [maxPos, half]),
      ],
      outputs: [value("y", [1, S, H * D])],
    });
    const { ort, s } = await session(name, model);
    const cos = new Float32Array(maxPos * half);
    const sin = new Float32Array(maxPos * half);
    for (let p = 0; p < maxPos; p++) {
      for (let i = 0; i < half; i++) {
        const a = p / 500000 ** ((2 * i) / D);
        cos[p * half + i] = Math.cos(a);
        sin[p * half + i] = Math.sin(a);
      }
    }
    const feeds = {
      x: new ort.Tensor("float32", inputs.x, [1, S, H * D]),
      pos: new ort.Tensor(
        "int64",
        BigInt64Array.from({ length: S }, (_, i) => BigInt(position + i)),
        [1, S],
      ),
      cos: new ort.Tensor("float32", cos, [maxPos, half]),
      sin: new ort.Tensor("float32", sin, [maxPos, half]),
    };
    return async () => (await s.run(feeds)).y.data;
  }
  if (config.op === "attention") {
    const { qLen, kvLen, qHeads, kvHeads, headDim: D } = config;
    const decode = qLen === 1;
    let k = inputs.k;
    let v = inputs.v;
    if (decode && kvHeads !== qHeads) {
      // bhsd [1, kvHeads, kvLen, D] → [1, qHeads, kvLen, D], each kv head repeated for its query group.
      const repeat = (a) => {
        const out = new Float32Array(qHeads * kvLen * D);
        for (let h = 0; h < qHeads; h++) {
          const kh = Math.floor((h * kvHeads) / qHeads);
          out.set(a.subarray(kh * kvLen * D, (kh + 1) * kvLen * D), h * kvLen * D);
        }
        return out;
      };
      k = repeat(k);
      v = repeat(v);
    }
    // Prefill: q, k, v as [1, S, H·D] (bshd). Decode: q [1, 1, H·D] and k, v as BNSH [1, H, kvLen, D].
    const kvDims = decode ? [1, qHeads, kvLen, D] : [1, kvLen, kvHeads * D];
    const model = onnxModel({
      nodes: [
        {
          op_type: "MultiHeadAttention",
          domain: "com.microsoft",
          input: ["q", "k", "v"],
          output: ["o"],
          attribute: [
            intAttr("num_heads", qHeads),
            intAttr("unidirectional", !decode && config.causal ? 1 : 0),
          ],
        },
      ],
      inputs: [value("q", [1, qLen, qHeads * D]), value("k", kvDims), value("v", kvDims)],
      outputs: [value("o", [1, qLen, qHeads * D])],
    });
    const { ort, s } = await session(name, model);
    const feeds = {
      q: new ort.Tensor("float32", inputs.q, [1, qLen, qHeads * D]),
      k: new ort.Tensor("float32", k, kvDims),
      v: new ort.Tensor("float32", v, kvDims),
    };
    return async () => (await s.run(feeds)).o.data;
  }
  return undefined;
}
