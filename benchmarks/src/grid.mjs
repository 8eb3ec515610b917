// The shape grid of every suite, and which contenders run it. One entry per configuration; the bench app
// filters it (profile, op, contender, shape) and runs each (configuration, contender) pair in its own
// child process.
import { KIND_CONFIGS } from "./kinds.mjs";

/** RoPE as real models run it: llama-3 heads (32 × 128, θ = 500 000), the HF layout and the other one. */
const rope = [
  ...["bshd", "bhsd"].flatMap((layout) =>
    ["half", "interleaved"].map((pairing) => ({
      id: `rope/prefill-${layout}-${pairing}`,
      op: "rope",
      label: `RoPE prefill [1, 4096, 32, 128] ${layout} ${pairing}`,
      layout,
      pairing,
      batch: 1,
      seq: 4096,
      heads: 32,
      headDim: 128,
      rotaryDim: 128,
      position: 0,
      quick: layout === "bshd" && pairing === "half",
    })),
  ),
  {
    id: "rope/decode-131071",
    op: "rope",
    label: "RoPE decode: 1 token at position 131 071, 32 × 128",
    layout: "bshd",
    pairing: "half",
    batch: 1,
    seq: 1,
    heads: 32,
    headDim: 128,
    rotaryDim: 128,
    position: 131071,
    quick: true,
  },
  {
    id: "rope/partial-phi2",
    op: "rope",
    label: "RoPE partial rotary (Phi-2: 32 of 80 channels) [1, 4096, 32, 80]",
    layout: "bshd",
    pairing: "half",
    batch: 1,
    seq: 4096,
    heads: 32,
    headDim: 80,
    rotaryDim: 32,
    position: 0,
    quick: false,
  },
];

const sinusoidal = [
  {
    id: "sinusoidal/add-4096x1024",
    op: "sinusoidal",
    label: "x + sinusoidal PE [1, 4096, 1024]",
    batch: 1,
    seq: 4096,
    dim: 1024,
    quick: true,
  },
];

/** Causal prefill, 8 heads × 64 (bshd, what ORT's MultiHeadAttention takes), and a GQA decode step. */
const attention = [
  ...[512, 1024, 2048, 4096, 16384, 32768].map((S) => ({
    id: `attention/prefill-${S}`,
    op: "attention",
    label: `causal attention prefill 8 × ${S} × 64`,
    series: "attention/prefill",
    layout: "bshd",
    batch: 1,
    qLen: S,
    kvLen: S,
    qHeads: 8,
    kvHeads: 8,
    headDim: 64,
    causal: true,
    quick: S <= 1024,
  })),
  {
    // The same shape without the causal mask: every key tile is computed (twice the work of causal).
    id: "attention/prefill-1024-noncausal",
    op: "attention",
    label: "non-causal attention prefill 8 × 1024 × 64",
    layout: "bshd",
    batch: 1,
    qLen: 1024,
    kvLen: 1024,
    qHeads: 8,
    kvHeads: 8,
    headDim: 64,
    causal: false,
    quick: true,
  },
  {
    id: "attention/decode-8192",
    op: "attention",
    label: "attention decode: 1 query vs 8192 cached, 32/8 heads × 128",
    layout: "bhsd",
    batch: 1,
    qLen: 1,
    kvLen: 8192,
    qHeads: 32,
    kvHeads: 8,
    headDim: 128,
    causal: true,
    quick: true,
  },
];

/** Every configuration of every suite. */
export const CONFIGS = [...rope, ...sinusoidal, ...attention, ...KIND_CONFIGS];

/**
 * ropekit's backends and modes in Node; `gpujs-headlessgl` needs the gl package and a display, `webgpu`
 * the optional `webgpu` package (Dawn) and a Vulkan driver (or Chromium's SwiftShader ICD).
 */
export const BACKENDS = ["js", "wasm-1", "wasm-2", "gpujs-webasm", "gpujs-headlessgl", "webgpu"];

/** The libraries users would pick instead, and the tutorial-style JS most code starts from. */
export const PEERS = [
  "tutorial-js",
  "tfjs-cpu",
  "tfjs-wasm",
  "ort-node-1",
  "ort-node-2",
  "ort-web-1",
  "ort-web-2",
];

/** Contenders that run in headless Chromium (`--browser`). */
export const BROWSER_BACKENDS = [
  "browser-wasm-1",
  "browser-wasm-2",
  "browser-gpujs-webgl2",
  "browser-gpujs-webgpu",
  "browser-webgpu",
  "browser-ort-webgpu",
];

/** Is `name` a peer (rather than a ropekit backend)? onnxruntime-web's WebGPU EP in Chromium is one. */
export const isPeer = (name) => PEERS.includes(name) || name.startsWith("browser-ort-");

/** Does `contender` implement `config`? ropekit's backends and the tutorial code implement every one. */
export function supports(name, config) {
  const contender = name.replace(/^browser-/, "");
  // The op-kind ops (rmsNorm, linear) are ropekit's own: no peer graph is built for them.
  if (config.kind) return !isPeer(name);
  const fullRotaryBshd =
    config.op === "rope" && config.layout === "bshd" && config.rotaryDim === config.headDim;
  if (contender.startsWith("tfjs-"))
    return config.op === "attention" || (fullRotaryBshd && config.pairing === "half");
  if (contender.startsWith("ort-")) return config.op === "attention" || fullRotaryBshd;
  return true;
}
