// What every decode contender of bench:decode computes and how its result is checked: the same query and
// K/V values (bhsd [1, kvHeads, kvLen, 128]) for backend-wasm and the onnxruntime peers, and one gate
// against core's f64 reference on the values as stored (rounded to the cache's dtype).
import { attentionReference, halfValue, maxRelativeError } from "@ropekit/core";

/** Head size of every decode shape. */
export const HEAD_DIM = 128;

// Cheap varied values (a 4096-entry table read at a stride): Math.sin per element is slow at 2^28.
const table = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37) * 1.5);
/** Element `i` of the K (seed 11) or V (seed 23) cache, before rounding to the cache's dtype. */
export const kvValue = (i, seed) => table[(i * 7919 + seed) & 4095];
/** Seeds of K and V. */
export const K_SEED = 11;
export const V_SEED = 23;

/** The decode query, [1, qHeads, 1, 128] (f32; a float16 peer rounds it, and is checked on that). */
export const decodeQuery = (qHeads) =>
  Float32Array.from({ length: qHeads * HEAD_DIM }, (_, i) => Math.sin(i * 0.37));

/** Stored element → its value: f32 as is, f16/bf16 bits decoded. */
const storedValue = (dtype) => (dtype === "float32" ? (x) => x : (x) => halfValue(x, dtype));

/**
 * Largest relative error (max |out − ref| over the largest |ref|) of query heads 0 and qHeads − 1 of a
 * decode output against core's f64 reference, computed on q, K and V exactly as the contender stored them.
 * `out`, `q`, `k`, `v`: arrays of numbers in `outDtype`, `qDtype`, `kvDtype` (half dtypes: bits).
 */
export function decodeError({ out, outDtype, q, qDtype, k, v, kvDtype, qHeads, kvHeads, kvLen }) {
  const d = HEAD_DIM;
  const kv = storedValue(kvDtype);
  let error = 0;
  for (const h of [0, qHeads - 1]) {
    const kh = Math.floor(h / (qHeads / kvHeads));
    const head = (t) => ({
      data: Float64Array.from(t.subarray(kh * kvLen * d, (kh + 1) * kvLen * d), kv),
      shape: [1, 1, kvLen, d],
      layout: "bhsd",
    });
    const expected = attentionReference(
      {
        data: Float64Array.from(q.subarray(h * d, (h + 1) * d), storedValue(qDtype)),
        shape: [1, 1, 1, d],
        layout: "bhsd",
      },
      head(k),
      head(v),
      { causal: true },
    ).output.data;
    const actual = Float64Array.from(out.subarray(h * d, (h + 1) * d), storedValue(outDtype));
    error = Math.max(error, maxRelativeError(actual, expected));
  }
  return error;
}

/**
 * The gate: f32 outputs (f32 arithmetic, whatever the cache's dtype — the reference has the same rounded
 * inputs) within 1e-3 of the largest output, since sums over up to 32768 keys whose values largely cancel
 * leave ~1e-4 there; a float16 output is rounded once more, by up to 2^-11 (half an f16 ulp, relative) of
 * each value, which is at most 2^-11 of the largest: 1e-3 + 2^-11. (ORT's float16 kernels measured
 * 3.5e-4 at 8192: they compute in f32 and round the output.)
 */
export const decodeTolerance = (outDtype) => (outDtype === "float32" ? 1e-3 : 1e-3 + 2 ** -11);

/** The median of `xs` (upper middle for an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * A stopwatch for one child process: `time(f)` returns f's wall time in ms and records this process's
 * CPU time (user + system) for it, which `lastCpu()` returns. On a shared machine the wall time includes
 * time the process waited for a core, the CPU time does not (1 thread: every kernel runs on this one).
 */
export function stopwatch() {
  let last = 0;
  return {
    async time(f) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await f();
      const t = performance.now() - t0;
      const c = process.cpuUsage(c0);
      last = (c.user + c.system) / 1000;
      return t;
    },
    lastCpu: () => last,
  };
}
