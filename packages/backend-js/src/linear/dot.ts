// The inner loops both linear kernels share: output features of one row of x, each the dot product with
// a weight row (n apart in `w`) plus its bias, accumulated in f64.

/** out[at + j] = b[o + j] + Σᵢ x[xo + i]·w[w0 + j·n + i] for j < 4: four features from one pass over the row. */
export function dot4(
  x: ArrayLike<number>,
  xo: number,
  w: ArrayLike<number>,
  w0: number,
  n: number,
  b: ArrayLike<number> | undefined,
  o: number,
  out: Float32Array,
  at: number,
): void {
  const w1 = w0 + n;
  const w2 = w1 + n;
  const w3 = w2 + n;
  let s0 = b ? (b[o] as number) : 0;
  let s1 = b ? (b[o + 1] as number) : 0;
  let s2 = b ? (b[o + 2] as number) : 0;
  let s3 = b ? (b[o + 3] as number) : 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i] as number;
    s0 += xi * (w[w0 + i] as number);
    s1 += xi * (w[w1 + i] as number);
    s2 += xi * (w[w2 + i] as number);
    s3 += xi * (w[w3 + i] as number);
  }
  out[at] = s0;
  out[at + 1] = s1;
  out[at + 2] = s2;
  out[at + 3] = s3;
}

/** out[at] = b[o] + Σᵢ x[xo + i]·w[w0 + i]: one feature. */
export function dot1(
  x: ArrayLike<number>,
  xo: number,
  w: ArrayLike<number>,
  w0: number,
  n: number,
  b: ArrayLike<number> | undefined,
  o: number,
  out: Float32Array,
  at: number,
): void {
  let s = b ? (b[o] as number) : 0;
  for (let i = 0; i < n; i++) s += (x[xo + i] as number) * (w[w0 + i] as number);
  out[at] = s;
}
