import { describeHFParity } from "@ropekit/core/testing";
import { createWebgpuBackend } from "../src/index.js";
import { webgpuUnavailable, whenWebgpu } from "./availability.js";

// transformers 4.57.6's own attention modules replayed through attentionFromHF, on Dawn (SwiftShader here).
const unavailable = await webgpuUnavailable();

whenWebgpu("HF parity, Node + Dawn", unavailable, () => {
  describeHFParity({ name: "backend-webgpu, Node, Dawn", create: () => createWebgpuBackend() });
});
