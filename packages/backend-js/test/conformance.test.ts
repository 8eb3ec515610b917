import { describeConformance } from "@ropekit/core/testing";
import { createJsBackend } from "../src/index.js";

describeConformance({
  name: "backend-js",
  create: () => createJsBackend(),
  tolerance: 1e-5,
  expectedMode: "js-f32",
});
