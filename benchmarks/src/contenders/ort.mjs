// ONNX Runtime peers: onnxruntime-node (native CPU) and onnxruntime-web (wasm), 1 or 2 threads, and
// onnxruntime-web's WebGPU execution provider in the browser (…-webgpu). RoPE is
// com.microsoft RotaryEmbedding (bshd, both pairings), attention com.microsoft MultiHeadAttention (causal
// via `unidirectional`, non-causal without); for the GQA decode step the kv heads are repeated to the query heads before the
// timed call, since MultiHeadAttention has no GQA — or, with config.gqa "GroupQueryAttention", through
// com.microsoft GroupQueryAttention on the kv heads as they are. config.dtype "float16" feeds float16.
import { encodeHalf } from "@ropekit/core";
import { floatAttr, intAttr, onnxModel, value } from "../../peers/onnx.mjs";
import { supports } from "../grid.mjs";
import { ortWebgpuDevice } from "./ort-webgpu-device.mjs";

export { ortWebgpuDevice };

async function session(name, model) {
  if (name.endsWith("-webgpu")) {
    // onnxruntime-web's WebGPU execution provider: its build with WebGPU (navigator.gpu), on a device the
    // bench makes for it (see ort-webgpu-device.mjs: why subgroups are withheld on SwiftShader). Outputs
    // are read back to the CPU, as ropekit's are.
    const ort = await import("onnxruntime-web/webgpu");
    const { device } = await ortWebgpuDevice();
    const options = { executionProviders: [{ name: "webgpu", device }] };
    return { ort, s: await ort.InferenceSession.create(model, options) };
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
        value("pos", [1, S], "int64"),
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
    // config.dtype: "float32" (default) or "float16" — every input and the output in that type (ORT's
    // attention ops take one type for q, k and v); a float16 run returns IEEE half bits (Uint16Array).
    const dtype = config.dtype ?? "float32";
    if (dtype !== "float32" && dtype !== "float16") return undefined;
    const typed = (a) => (dtype === "float32" ? a : encodeHalf(a, "float16"));
    const { qLen, kvLen, qHeads, kvHeads, headDim: D } = config;
    const decode = qLen === 1;
    if (decode && kvHeads !== qHeads && config.gqa === "GroupQueryAttention")
      return groupQueryDecode(name, config, inputs, dtype, typed);
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
      inputs: [
        value("q", [1, qLen, qHeads * D], dtype),
        value("k", kvDims, dtype),
        value("v", kvDims, dtype),
      ],
      outputs: [value("o", [1, qLen, qHeads * D], dtype)],
    });
    const { ort, s } = await session(name, model);
    const feeds = {
      q: new ort.Tensor(dtype, typed(inputs.q), [1, qLen, qHeads * D]),
      k: new ort.Tensor(dtype, typed(k), kvDims),
      v: new ort.Tensor(dtype, typed(v), kvDims),
    };
    return async () => (await s.run(feeds)).o.data;
  }
  return undefined;
}

/**
 * GQA decode through com.microsoft GroupQueryAttention (CPU: float32 and float16), without repeating kv
 * heads: the cache is past_key/past_value, BNSH [1, kvHeads, kvLen, D], whose last position is the new
 * token (fed again as key/value, [1, 1, kvHeads·D]; seqlens_k = kvLen − 1, total_sequence_length = kvLen).
 * present_key/present_value are fetched into the past tensors themselves, so the kernel appends in place
 * (ORT's shared past/present buffer) instead of copying the whole cache every step.
 */
async function groupQueryDecode(name, config, inputs, dtype, typed) {
  const { kvLen, qHeads, kvHeads, headDim: D } = config;
  const cacheDims = [1, kvHeads, kvLen, D];
  const model = onnxModel({
    nodes: [
      {
        op_type: "GroupQueryAttention",
        domain: "com.microsoft",
        input: ["q", "k", "v", "past_k", "past_v", "seqlens_k", "total"],
        output: ["o", "present_k", "present_v"],
        attribute: [intAttr("num_heads", qHeads), intAttr("kv_num_heads", kvHeads)],
      },
    ],
    inputs: [
      value("q", [1, 1, qHeads * D], dtype),
      value("k", [1, 1, kvHeads * D], dtype),
      value("v", [1, 1, kvHeads * D], dtype),
      value("past_k", cacheDims, dtype),
      value("past_v", cacheDims, dtype),
      value("seqlens_k", [1], "int32"),
      value("total", [], "int32"),
    ],
    outputs: [
      value("o", [1, 1, qHeads * D], dtype),
      value("present_k", cacheDims, dtype),
      value("present_v", cacheDims, dtype),
    ],
  });
  const { ort, s } = await session(name, model);
  // The new token: position kvLen − 1 of every kv head.
  const last = (a) => {
    const out = new Float32Array(kvHeads * D);
    for (let h = 0; h < kvHeads; h++)
      out.set(a.subarray((h * kvLen + kvLen - 1) * D, (h * kvLen + kvLen) * D), h * D);
    return out;
  };
  const pastK = new ort.Tensor(dtype, typed(inputs.k), cacheDims);
  const pastV = new ort.Tensor(dtype, typed(inputs.v), cacheDims);
  const feeds = {
    q: new ort.Tensor(dtype, typed(inputs.q), [1, 1, qHeads * D]),
    k: new ort.Tensor(dtype, typed(last(inputs.k)), [1, 1, kvHeads * D]),
    v: new ort.Tensor(dtype, typed(last(inputs.v)), [1, 1, kvHeads * D]),
    past_k: pastK,
    past_v: pastV,
    seqlens_k: new ort.Tensor("int32", Int32Array.of(kvLen - 1), [1]),
    total: new ort.Tensor("int32", Int32Array.of(kvLen), []),
  };
  const out = new ort.Tensor(
    dtype,
    dtype === "float32" ? new Float32Array(qHeads * D) : new Uint16Array(qHeads * D),
    [1, 1, qHeads * D],
  );
  const fetches = { o: out, present_k: pastK, present_v: pastV };
  return async () => (await s.run(feeds, fetches)).o.data;
}
