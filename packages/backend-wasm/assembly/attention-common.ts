// What the attention kernel's pieces share: tile sizes, the removed-key marker, parameter reads.

/** Query rows per tile. */
export const BLOCK_Q: i32 = 32;
/** Keys per tile: 8 f32x4 accumulators per score row. */
export const BLOCK_K: i32 = 32;

/**
 * −0 in every lane: the weight of a removed key (masked, out of bounds, score −∞), told apart from an
 * underflowed +0 weight, whose key still takes part (a NaN or ∞ in its v must reach the output).
 */
export const REMOVED: v128 = i32x4.splat(0x80000000);

/** Word `word` of the parameter block at `p` (see src/attention-layout.ts), as an i32. */
// @ts-ignore: decorator
@inline
export function param(p: usize, word: i32): i32 {
  return load<i32>(p + (<usize>word << 2));
}

/** Word `word` of the parameter block at `p`, as an f32. */
// @ts-ignore: decorator
@inline
export function paramF(p: usize, word: i32): f32 {
  return load<f32>(p + (<usize>word << 2));
}

/** Address of float `index` from `base`. */
// @ts-ignore: decorator
@inline
export function f32At(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** Marks every key of a score row removed. */
// @ts-ignore: decorator
@inline
export function fillRemoved(sr: usize): void {
  for (let c = 0; c < BLOCK_K; c += 4) v128.store(sr + (<usize>c << 2), REMOVED);
}

/** Claims the next work unit from the shared counter (atomically in the threads build). */
// @ts-ignore: decorator
@inline
export function nextUnit(counter: usize): i32 {
  if (ASC_FEATURE_THREADS) return atomic.add<i32>(counter, 1);
  const u = load<i32>(counter);
  store<i32>(counter, u + 1);
  return u;
}
