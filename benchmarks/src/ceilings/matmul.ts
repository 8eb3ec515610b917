// The compute ceiling of the benchmarks: f32x4 SIMD matmul on one thread, C = A·B for n×n row-major
// matrices small enough to stay in L1/L2 (n = 64), register-blocked 2 rows × 16 columns so the loop is
// bound by multiply-adds rather than loads. Plain mul + add (no relaxed FMA), like the baseline SIMD
// build of backend-wasm. Built by `asc` at build time (scripts in package.json), never committed.

export function alloc(bytes: i32): usize {
  return heap.alloc(bytes);
}

/** Runs C = A·B `reps` times; n must be a multiple of 16 and even. */
export function matmul(a: usize, b: usize, c: usize, n: i32, reps: i32): void {
  const row = (<usize>n) << 2;
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < n; i += 2) {
      const a0 = a + <usize>i * row;
      const a1 = a0 + row;
      for (let j = 0; j < n; j += 16) {
        let c00 = f32x4.splat(0);
        let c01 = f32x4.splat(0);
        let c02 = f32x4.splat(0);
        let c03 = f32x4.splat(0);
        let c10 = f32x4.splat(0);
        let c11 = f32x4.splat(0);
        let c12 = f32x4.splat(0);
        let c13 = f32x4.splat(0);
        let bp = b + ((<usize>j) << 2);
        for (let k = 0; k < n; k++) {
          const x0 = f32x4.splat(load<f32>(a0 + ((<usize>k) << 2)));
          const x1 = f32x4.splat(load<f32>(a1 + ((<usize>k) << 2)));
          const b0 = v128.load(bp);
          const b1 = v128.load(bp, 16);
          const b2 = v128.load(bp, 32);
          const b3 = v128.load(bp, 48);
          c00 = f32x4.add(c00, f32x4.mul(x0, b0));
          c01 = f32x4.add(c01, f32x4.mul(x0, b1));
          c02 = f32x4.add(c02, f32x4.mul(x0, b2));
          c03 = f32x4.add(c03, f32x4.mul(x0, b3));
          c10 = f32x4.add(c10, f32x4.mul(x1, b0));
          c11 = f32x4.add(c11, f32x4.mul(x1, b1));
          c12 = f32x4.add(c12, f32x4.mul(x1, b2));
          c13 = f32x4.add(c13, f32x4.mul(x1, b3));
          bp += row;
        }
        const c0 = c + <usize>i * row + ((<usize>j) << 2);
        const c1 = c0 + row;
        v128.store(c0, c00);
        v128.store(c0, c01, 16);
        v128.store(c0, c02, 32);
        v128.store(c0, c03, 48);
        v128.store(c1, c10);
        v128.store(c1, c11, 16);
        v128.store(c1, c12, 32);
        v128.store(c1, c13, 48);
      }
    }
  }
}
