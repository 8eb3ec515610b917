// Shared SIMD helpers. ASC_FEATURE_RELAXED_SIMD is a compile-time constant: the relaxed build uses a
// fused multiply-add, the plain build a multiply then an add.

/** a·b + c, four lanes. */
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Sum of the four lanes. */
// @ts-ignore: decorator
@inline
export function hsum(v: v128): f32 {
  const s = f32x4.add(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  const t = f32x4.add(s, f32x4.shuffle(s, s, 1, 0, 3, 2));
  return f32x4.extract_lane(t, 0);
}

/** Max of the four lanes. */
// @ts-ignore: decorator
@inline
export function hmax(v: v128): f32 {
  const s = f32x4.max(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  const t = f32x4.max(s, f32x4.shuffle(s, s, 1, 0, 3, 2));
  return f32x4.extract_lane(t, 0);
}

/**
 * e^x for four lanes, for x ≤ 0 (softmax weights after the max is subtracted): round x·log2 e to n,
 * reduce r = x − n·ln 2 (two-part ln 2), a degree-6 polynomial for e^r on |r| ≤ ln2/2, scale by 2^n.
 * Relative error ≈ 2e-7. Lanes below −87 (including −∞) give exactly 0.
 */
// @ts-ignore: decorator
@inline
export function expNeg(x: v128): v128 {
  const valid = f32x4.gt(x, f32x4.splat(-87.0));
  const xc = f32x4.max(x, f32x4.splat(-87.0));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.4426950408889634)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  p = madd(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1.0)));
  // 2^n: n + 127 in the exponent field.
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.and(f32x4.mul(p, scale), valid);
}
