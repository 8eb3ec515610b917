import { describeReliability } from "@ropekit/core/testing";
import { createExampleBackend } from "../src/index.js";

// Hostile inputs, numerics at the edge of f32, concurrent calls, lifecycle and seeded fuzzing against the
// f64 reference. Pass `resident` and `killWorker` when the backend has its own memory or worker threads.
describeReliability({
  name: "backend-example",
  create: createExampleBackend,
  tolerance: 5e-7,
});
