import { describeReliability } from "@ropekit/core/testing";
import { create__PASCAL__Backend } from "../src/index.js";

// Hostile inputs, numerics at the edge of f32, concurrent calls, lifecycle and seeded fuzzing against the
// f64 reference. Pass `resident` and `killWorker` when the backend has its own memory or worker threads.
describeReliability({
  name: "backend-__NAME__",
  create: create__PASCAL__Backend,
  tolerance: 5e-7,
});
