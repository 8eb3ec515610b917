import { addLearnedReference } from "../absolute/learned.js";
import { addSinusoidalReference, sinusoidalReference } from "../absolute/sinusoidal.js";
import { attentionReference } from "../attention/attention.js";
import { RopekitError } from "../errors.js";
import { linearReference } from "../linear/linear.js";
import { applyRopeReference, planApplyRope } from "../rope/apply.js";
import { ropeTable } from "../rope/table.js";
import { headsDims } from "../tensor.js";
import {
  type Backend,
  type BackendRegistration,
  OP_NAMES,
  type SyncOps,
  backendFromSync,
} from "./contract.js";

/**
 * The f64 reference of every op as synchronous ops: what the reference backend runs, and a starting
 * point for a new backend (spread it, then replace ops with your kernels one by one).
 */
export const referenceOps: SyncOps = {
  ropeTable,
  applyRope: applyRopeReference,
  applyRopeQK(q, k, rope, options = {}) {
    checkQKPair(q, k);
    // Validate both before touching either, so an in-place call never half-applies.
    planApplyRope(q, rope, options, "q");
    planApplyRope(k, rope, options, "k");
    return { q: applyRopeReference(q, rope, options), k: applyRopeReference(k, rope, options) };
  },
  sinusoidal: sinusoidalReference,
  addSinusoidal: addSinusoidalReference,
  addLearned: addLearnedReference,
  attention: attentionReference,
  linear: linearReference,
};

/** q and k rotated together must agree on batch and sequence length (they share positions). */
export function checkQKPair(q: Parameters<typeof headsDims>[0], k: Parameters<typeof headsDims>[0]): void {
  const qd = headsDims(q, "q");
  const kd = headsDims(k, "k");
  if (qd.batch !== kd.batch || qd.seq !== kd.seq) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `q and k share positions, so batch and seq must match: q has [${qd.batch}, ${qd.seq}], k has [${kd.batch}, ${kd.seq}]`,
      "k.shape",
    );
  }
}

/**
 * The f64 reference as a backend: slow, plain, the definition of every op. Useful to check a new
 * backend against and as an explicit choice (`ROPEKIT_BACKEND=reference`); never picked by default.
 */
export function createReferenceBackend(): Backend {
  return backendFromSync(
    "reference",
    referenceOps,
    () => ({
      name: "reference",
      mode: "reference-f64",
      precision: "f64",
      dtypes: ["float32", "float64"],
      ops: OP_NAMES,
      pairings: ["half", "interleaved"],
      layouts: ["bshd", "bhsd"],
      threads: 1,
      notes: "plain f64 loops; the definition other backends are checked against",
    }),
    () => {},
  );
}

/** Registration of the reference backend, at the lowest priority. */
export const referenceRegistration: BackendRegistration = {
  name: "reference",
  priority: 0,
  isSupported: () => true,
  create: createReferenceBackend,
};
