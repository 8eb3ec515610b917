/** FNV-1a hash of a string: the seed of a case's inputs. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * `n` deterministic values in [−2, 2), multiples of 1/256 (exact in f32 and short in JSON),
 * from a mulberry32 stream seeded by `seed`.
 */
export function seededValues(seed: string, n: number): Float64Array {
  let state = hash(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = Math.floor(u * 1024) / 256 - 2;
  }
  return out;
}
