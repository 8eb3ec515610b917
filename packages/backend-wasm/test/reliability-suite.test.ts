// core's reliability suite (hostile inputs, f32-edge numerics, concurrent mixed calls on plain and
// resident tensors, dispose during calls, a killed worker, fuzzing against the f64 reference).
import type { Backend, HeadsTensor } from "@ropekit/core";
import { describeReliability } from "@ropekit/core/testing";
import { type WasmBackend, createWasmBackend } from "../src/index.js";
import type { WorkerPool } from "../src/pool.js";

/** A copy of `t` in the backend's memory, passed to ops as the WasmTensor itself. */
function resident(backend: Backend, t: HeadsTensor): HeadsTensor {
  const r = (backend as WasmBackend).tensor([...t.shape], t.layout);
  r.data.set(t.data);
  return r as unknown as HeadsTensor;
}

describeReliability({
  name: "backend-wasm, 1 thread",
  create: () => createWasmBackend({ threads: 1 }),
  tolerance: 1e-5,
  resident,
});

describeReliability({
  name: "backend-wasm, 2 threads",
  create: () => createWasmBackend({ threads: 2 }),
  tolerance: 1e-5,
  resident,
  // The test hook: the worker dies right after the next kernel call is posted to it.
  killWorker: (backend) =>
    (backend as unknown as { setup: { pool: WorkerPool } }).setup.pool.killWorker(0, true),
});
