// Measures the SIMD matmul peak (GFLOP/s, one thread) with the kernel of matmul.ts, checking its result
// against a plain JS product first. Prints one JSON line when run as a script.
import { readFileSync } from "node:fs";

const N = 64;

export async function matmulPeak({ rounds = 7, reps = 200 } = {}) {
  const bytes = readFileSync(new URL("../../dist/matmul.wasm", import.meta.url));
  const { instance } = await WebAssembly.instantiate(bytes, { env: { abort: () => {} } });
  const { alloc, matmul, memory } = instance.exports;
  const size = N * N * 4;
  const [a, b, c] = [alloc(size), alloc(size), alloc(size)];
  const view = (p) => new Float32Array(memory.buffer, p, N * N);
  view(a).set(Float32Array.from({ length: N * N }, (_, i) => Math.sin(i)));
  view(b).set(Float32Array.from({ length: N * N }, (_, i) => Math.cos(i)));
  matmul(a, b, c, N, 1);
  const [A, B, C] = [view(a), view(b), view(c)];
  for (const [i, j] of [
    [0, 0],
    [N - 1, N - 1],
    [17, 42],
  ]) {
    let s = 0;
    for (let k = 0; k < N; k++) s += A[i * N + k] * B[k * N + j];
    if (Math.abs(C[i * N + j] - s) > 1e-3 * Math.max(1, Math.abs(s)))
      throw new Error("matmul kernel is wrong");
  }
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    matmul(a, b, c, N, reps);
    times.push(performance.now() - t0);
  }
  const ms = times.sort((x, y) => x - y)[rounds >> 1];
  return { n: N, gflops: (2 * N * N * N * reps) / ms / 1e6 };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await matmulPeak()));
