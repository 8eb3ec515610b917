import { describeConformance } from "@ropekit/core/testing";
import { create__PASCAL__Backend } from "../src/index.js";

// The whole suite in one call. The reference computes in f64; cos/sin tables are stored in f32, so the
// prebuilt-table tests need about 5e-7. Use 1e-5 for f32 CPU kernels.
describeConformance({
  name: "backend-__NAME__",
  create: create__PASCAL__Backend,
  tolerance: 5e-7,
  expectedMode: "__NAME__-reference-f64",
});
