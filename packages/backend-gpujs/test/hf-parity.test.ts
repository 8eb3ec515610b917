import { describeHFParity } from "@ropekit/core/testing";
import { createGpujsBackend } from "../src/index.js";

// transformers 4.57.6's own attention modules, replayed through attentionFromHF: on gpu.js's webasm
// fallback (every Node has it) and on headless-gl where it runs (conformance-headlessgl.test.ts fails CI
// when it does not, so this file need not).
describeHFParity({
  name: "backend-gpujs, Node, webasm",
  create: () => createGpujsBackend({ mode: "webasm" }),
});

const headless = await createGpujsBackend({ mode: "headlessgl" }).then(
  (b) => {
    const ok = b.device.mode === "headlessgl";
    b.dispose();
    return ok;
  },
  () => false,
);
if (headless) {
  describeHFParity({
    name: "backend-gpujs, Node, headless-gl",
    create: () => createGpujsBackend({ mode: "headlessgl" }),
  });
}
