import { describeConformance } from "@ropekit/core/testing";
import { createExampleBackend } from "../src/index.js";

// The whole suite in one call. The reference computes in f64; cos/sin tables are stored in f32, so the
// prebuilt-table tests need about 5e-7. Use 1e-5 for f32 CPU kernels.
describeConformance({
  name: "backend-example",
  create: createExampleBackend,
  tolerance: 5e-7,
  expectedMode: "example-reference-f64",
});
