import { hsum, madd } from "./simd";

/** y[r] = x[r]·Wᵀ + b for rows [rowStart, rowEnd); four outputs per pass over a row. bias = 0 for none. */
export function linear(
  x: usize,
  w: usize,
  bias: usize,
  y: usize,
  n: i32,
  outFeatures: i32,
  rowStart: i32,
  rowEnd: i32,
): void {
  for (let r = rowStart; r < rowEnd; r++) {
    const xr = x + ((<usize>(r * n)) << 2);
    const yr = y + ((<usize>(r * outFeatures)) << 2);
    let o = 0;
    for (; o + 4 <= outFeatures; o += 4) {
      const w0 = w + ((<usize>(o * n)) << 2);
      const w1 = w0 + ((<usize>n) << 2);
      const w2 = w1 + ((<usize>n) << 2);
      const w3 = w2 + ((<usize>n) << 2);
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= n; i += 4) {
        const off = (<usize>i) << 2;
        const xv = v128.load(xr + off);
        a0 = madd(xv, v128.load(w0 + off), a0);
        a1 = madd(xv, v128.load(w1 + off), a1);
        a2 = madd(xv, v128.load(w2 + off), a2);
        a3 = madd(xv, v128.load(w3 + off), a3);
      }
      let s0 = hsum(a0);
      let s1 = hsum(a1);
      let s2 = hsum(a2);
      let s3 = hsum(a3);
      for (; i < n; i++) {
        const xi = load<f32>(xr + ((<usize>i) << 2));
        s0 += xi * load<f32>(w0 + ((<usize>i) << 2));
        s1 += xi * load<f32>(w1 + ((<usize>i) << 2));
        s2 += xi * load<f32>(w2 + ((<usize>i) << 2));
        s3 += xi * load<f32>(w3 + ((<usize>i) << 2));
      }
      if (bias) {
        s0 += load<f32>(bias + ((<usize>o) << 2));
        s1 += load<f32>(bias + ((<usize>(o + 1)) << 2));
        s2 += load<f32>(bias + ((<usize>(o + 2)) << 2));
        s3 += load<f32>(bias + ((<usize>(o + 3)) << 2));
      }
      store<f32>(yr + ((<usize>o) << 2), s0);
      store<f32>(yr + ((<usize>(o + 1)) << 2), s1);
      store<f32>(yr + ((<usize>(o + 2)) << 2), s2);
      store<f32>(yr + ((<usize>(o + 3)) << 2), s3);
    }
    for (; o < outFeatures; o++) {
      const wo = w + ((<usize>(o * n)) << 2);
      let s: f32 = bias ? load<f32>(bias + ((<usize>o) << 2)) : 0;
      for (let i = 0; i < n; i++) s += load<f32>(xr + ((<usize>i) << 2)) * load<f32>(wo + ((<usize>i) << 2));
      store<f32>(yr + ((<usize>o) << 2), s);
    }
  }
}
