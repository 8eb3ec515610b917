/**
 * `@ropekit/backend-js`: fast f32 kernels in plain TypeScript. Runs everywhere; the baseline every
 * other backend is measured against.
 */
import {
  type ApplyRopeOptions,
  type Backend,
  type BackendRegistration,
  type HeadsTensor,
  OP_NAMES,
  type RopeInput,
  RopeTableCache,
  type SyncOps,
  backendFromSync,
  checkQKPair,
  planApplyRope,
  ropeTable,
} from "@ropekit/core";
import { addLearned } from "./absolute/learned.js";
import { attention } from "./attention/attention.js";
import { addSinusoidal, sinusoidal } from "./absolute/sinusoidal.js";
import { requireFloat32 } from "./dtype.js";
import { linear } from "./linear/linear.js";
import { rotateInPlace } from "./rope/apply.js";

/** Options of `createJsBackend`. */
export interface JsBackendOptions {
  /** How many RoPE tables to keep for reuse across calls. Default 32. */
  tableCacheSize?: number;
}

/** Makes a backend-js instance (each has its own table cache). */
export function createJsBackend(options: JsBackendOptions = {}): Backend {
  const cache = new RopeTableCache(options.tableCacheSize ?? 32);

  function applyRope(
    x: HeadsTensor,
    rope: RopeInput,
    opts: ApplyRopeOptions = {},
  ): HeadsTensor<Float32Array> {
    const plan = planApplyRope(x, rope, opts);
    const src = requireFloat32(x.data, "x.data");
    const { table, rows } = cache.forPlan(plan);
    // Out of place: copy once (keeps pass-through channels), then rotate the copy. The typed-array
    // constructor copies several times faster than slice() in V8.
    const out = plan.inPlace ? src : new Float32Array(src);
    rotateInPlace(out, plan, table, rows);
    return { data: out, shape: [...x.shape] as [number, number, number, number], layout: x.layout };
  }

  const sync: SyncOps = {
    ropeTable,
    applyRope,
    applyRopeQK(q, k, rope, opts = {}) {
      checkQKPair(q, k);
      // Validate both before writing either, so a bad k never leaves q half-done in place.
      planApplyRope(q, rope, opts, "q");
      planApplyRope(k, rope, opts, "k");
      requireFloat32(q.data, "q.data");
      requireFloat32(k.data, "k.data");
      return { q: applyRope(q, rope, opts), k: applyRope(k, rope, opts) };
    },
    sinusoidal,
    addSinusoidal,
    addLearned,
    attention: (q, k, v, opts) => attention(q, k, v, opts, applyRope),
    linear,
  };

  return backendFromSync(
    "js",
    sync,
    () => ({
      name: "js",
      mode: "js-f32",
      precision: "f32",
      dtypes: ["float32"],
      ops: OP_NAMES,
      pairings: ["half", "interleaved"],
      layouts: ["bshd", "bhsd"],
      threads: 1,
      notes:
        "plain TypeScript on the calling thread; cos/sin tables in f32 from f64 trig, cached across calls",
    }),
    () => cache.clear(),
  );
}

/** Registration for the registry: runs in every JavaScript runtime. */
export const jsRegistration: BackendRegistration = {
  name: "js",
  priority: 10,
  isSupported: () => true,
  create: () => createJsBackend(),
};
