import type { KernelThis } from "../gpu.js";

/**
 * The four gpu.js kernels of attention, for one block of query rows of one (batch, kv head) group: the
 * scores of the block against every key, the row maxima, the row sums of exp(s − max), and the weighted
 * sum of values. GLSL has no infinity literal: a score the row does not see is the finite sentinel −3e38,
 * and a key takes part iff its score is above −1e38 (prepass.ts keeps every real score inside ±1.1e37).
 */

export function scoresKernel(
  this: KernelThis,
  q: Float32Array,
  k: Float32Array,
  mask: Float32Array,
  slopes: Float32Array,
  headDim: number,
  kvLen: number,
  qLen: number,
  rowStart: number,
  headBase: number,
  qOffset: number,
  scale: number,
  softcap: number,
  causal: number,
  window: number,
  hasMask: number,
  hasAlibi: number,
): number {
  const idx = this.thread.x;
  const localRow = Math.floor((idx + 0.5) / kvLen);
  const j = idx - localRow * kvLen;
  const row = rowStart + localRow;
  const hh = Math.floor((row + 0.5) / qLen);
  const i = row - hh * qLen;
  const p = qOffset + i;
  if (causal > 0.5) {
    if (j > p) return -3e38;
    if (window > 0.5 && j <= p - window) return -3e38;
  }
  let m = 0;
  if (hasMask > 0.5) {
    // Already shifted by the row's maximum and clamped to −3e38 for removed keys (on the CPU).
    m = mask[idx] as number;
    if (m < -1e38) return -3e38;
  }
  let dot = 0;
  for (let d = 0; d < headDim; d++) {
    dot += (q[localRow * headDim + d] as number) * (k[j * headDim + d] as number);
  }
  let s = dot * scale;
  if (softcap > 0) {
    // c·tanh(s/c). GLSL ES 1 has no tanh (gpu.js's e^{2x} form is NaN past x ≈ 44), and 1 − 2/(e^{2x} + 1)
    // loses relative precision near 0: the odd Taylor series below |x| = 1/4 (truncation under 1e-8),
    // (1 − e)/(1 + e) with e = e^{−2|x|} above, |x| clamped at 20 where tanh is 1 in f32.
    const x = s / softcap;
    let ax = Math.abs(x);
    let t = 0;
    if (ax < 0.25) {
      const x2 = ax * ax;
      t =
        ax *
        (1 +
          x2 *
            (-0.3333333333333333 +
              x2 * (0.13333333333333333 + x2 * (-0.05396825396825397 + x2 * 0.021869488536155203))));
    } else {
      if (ax > 20) ax = 20;
      const e = Math.exp(-2 * ax);
      t = (1 - e) / (1 + e);
    }
    if (x < 0) t = -t;
    s = softcap * t;
  }
  if (hasAlibi > 0.5) s += (slopes[headBase + hh] as number) * (j - p);
  return s + m;
}

export function rowMaxKernel(
  this: KernelThis,
  scores: Float32Array,
  kvLen: number,
  qLen: number,
  rowStart: number,
  qOffset: number,
  causal: number,
): number {
  const localRow = this.thread.x;
  const row = rowStart + localRow;
  const i = row - Math.floor((row + 0.5) / qLen) * qLen;
  let hi = kvLen;
  if (causal > 0.5) hi = Math.min(kvLen, qOffset + i + 1);
  let m = -3e38;
  for (let j = 0; j < kvLen; j++) {
    if (j >= hi) break;
    m = Math.max(m, scores[localRow * kvLen + j] as number);
  }
  return m;
}

export function rowSumKernel(
  this: KernelThis,
  scores: Float32Array,
  maxima: Float32Array,
  kvLen: number,
  qLen: number,
  rowStart: number,
  qOffset: number,
  causal: number,
): number {
  const localRow = this.thread.x;
  const row = rowStart + localRow;
  const i = row - Math.floor((row + 0.5) / qLen) * qLen;
  let hi = kvLen;
  if (causal > 0.5) hi = Math.min(kvLen, qOffset + i + 1);
  const m = maxima[localRow] as number;
  if (m < -1e38) return 0;
  let l = 0;
  for (let j = 0; j < kvLen; j++) {
    if (j >= hi) break;
    const s = scores[localRow * kvLen + j] as number;
    if (s > -1e38) l += Math.exp(s - m);
  }
  return l;
}

export function outputKernel(
  this: KernelThis,
  scores: Float32Array,
  maxima: Float32Array,
  sums: Float32Array,
  v: Float32Array,
  vHeadDim: number,
  kvLen: number,
  qLen: number,
  rowStart: number,
  qOffset: number,
  causal: number,
): number {
  const idx = this.thread.x;
  const localRow = Math.floor((idx + 0.5) / vHeadDim);
  const c = idx - localRow * vHeadDim;
  const row = rowStart + localRow;
  const i = row - Math.floor((row + 0.5) / qLen) * qLen;
  const l = sums[localRow] as number;
  if (l <= 0) return 0;
  const inv = 1 / l;
  const m = maxima[localRow] as number;
  let hi = kvLen;
  if (causal > 0.5) hi = Math.min(kvLen, qOffset + i + 1);
  let acc = 0;
  for (let j = 0; j < kvLen; j++) {
    if (j >= hi) break;
    const s = scores[localRow * kvLen + j] as number;
    // Normalised weights as it goes: the sum is a convex combination of v, so |v| ≤ 2^127 cannot overflow.
    if (s > -1e38) acc += Math.exp(s - m) * inv * (v[j * vHeadDim + c] as number);
  }
  return acc;
}
