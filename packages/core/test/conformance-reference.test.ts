// The suite run on the f64 reference itself: proves the suite passes on the definition it encodes.
// The tolerance covers the prebuilt-table tests, where cos/sin are stored in f32.
import { createReferenceBackend } from "../src/index.js";
import { describeConformance, describeReliability } from "../src/testing/index.js";

describeConformance({
  name: "reference (f64)",
  create: createReferenceBackend,
  tolerance: 5e-7,
  expectedMode: "reference-f64",
});

// The reliability suite on the reference: the hostile-input codes and arguments are core's, and the
// numerics cases compare the reference with itself (the fuzz part is skipped as trivially equal).
describeReliability({
  name: "reference (f64)",
  create: createReferenceBackend,
  tolerance: 0,
  fuzzRuns: 1,
  concurrentCalls: 20,
});
