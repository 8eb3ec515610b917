/**
 * `@ropekit/core/testing`: the conformance suite every backend runs, and its helpers.
 * Needs vitest (a peer dependency).
 */
export { type ConformanceOptions, describeConformance, goldenVectors } from "./conformance.js";
export { maxRelativeError } from "../compare.js";
