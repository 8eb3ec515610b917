/**
 * `@ropekit/core/testing`: the conformance suite every backend runs, and its helpers.
 * Needs vitest (a peer dependency).
 */
export { type ConformanceOptions, describeConformance, goldenVectors } from "./conformance.js";
export {
  type DtypeSuiteContext,
  EXTRA_DTYPES,
  UNIT_ROUNDOFF,
  describeDtypeConformance,
  dtypeTolerance,
} from "./dtype-conformance.js";
export { maxRelativeError } from "../compare.js";
export { type ReliabilityOptions, describeReliability } from "./reliability/index.js";
export { HOSTILE_CASES, type HostileCall, type HostileCase } from "./reliability/hostile-inputs.js";
export { FINFO_F32_MIN, NUMERICS_CASES, type NumericsCase } from "./reliability/numerics-cases.js";
export { HF_PARITY_FIXTURES, type HFParityOptions, describeHFParity } from "./hf-parity.js";
