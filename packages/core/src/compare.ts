import { requireHostData } from "./resident.js";

/**
 * Largest |actual − expected| divided by the largest |expected| (or 1 when expected is all zeros).
 * Resident data (held by a backend) raises WRONG_BACKEND: read() it first.
 */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  requireHostData(actual, "actual");
  requireHostData(expected, "expected");
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const d = Math.abs((actual[i] as number) - e);
    // NaN must fail: `d > maxDiff` is false for NaN, so test it explicitly.
    if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
    if (d > maxDiff) maxDiff = d;
    if (Math.abs(e) > maxRef) maxRef = Math.abs(e);
  }
  return maxDiff / (maxRef || 1);
}
