// What every consumer runs: pick a backend with getBackend(), apply Llama-3.1-style RoPE to a fixed
// input, and (where shared memory is allowed) the same on a 2-thread wasm backend. The test compares
// the values with the f64 reference computed here, outside the consumer.
import { applyRopeReference, maxRelativeError, ropeSpecFromHF } from "ropekit";

const CONFIG = {
  hidden_size: 256,
  num_attention_heads: 4,
  rope_theta: 500000,
  max_position_embeddings: 131072,
  rope_scaling: {
    rope_type: "llama3",
    factor: 8,
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 8192,
  },
};
const SHAPE: readonly [number, number, number, number] = [1, 16, 4, 64];
const POSITIONS = 100_000;

/** What a consumer reports. */
export interface ProbeResult {
  backend: string;
  mode: string;
  skipped: string[];
  values: number[];
  threads?: { mode: string; values: number[] };
  error?: string;
}

/** The probe's body: plain JavaScript that needs `applyRope`, `createWasmBackend`, `getBackend`, `ropeSpecFromHF`. */
const BODY = `const CONFIG = ${JSON.stringify(CONFIG)};
const SHAPE = ${JSON.stringify(SHAPE)};
const input = () => Float32Array.from({ length: SHAPE.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37 + 0.1));
async function probe() {
  const picked = await getBackend();
  const spec = ropeSpecFromHF(CONFIG);
  const out = await applyRope({ data: input(), shape: SHAPE, layout: "bshd" }, spec, { positions: ${POSITIONS} });
  const result = {
    backend: picked.name,
    mode: picked.mode,
    skipped: picked.skipped.map((s) => s.name + ": " + s.reason),
    values: Array.from(out.data),
  };
  if (picked.name === "wasm" && (globalThis.crossOriginIsolated ?? typeof SharedArrayBuffer === "function")) {
    const wasm = await createWasmBackend({ threads: 2 });
    const two = await wasm.applyRope({ data: input(), shape: SHAPE, layout: "bshd" }, spec, { positions: ${POSITIONS} });
    result.threads = { mode: wasm.describe().mode, values: Array.from(two.data) };
    wasm.dispose();
  }
  return result;
}
`;

const NAMES = "applyRope, createWasmBackend, getBackend, ropeSpecFromHF";

/** An ES module that runs the probe and prints the result as JSON (Node, Bun, Deno). */
export const PROBE_ESM = `import { ${NAMES} } from "ropekit";
${BODY}
probe().then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });
`;

/** The same as CommonJS: `require("ropekit")`. */
export const PROBE_CJS = `const { ${NAMES} } = require("ropekit");
${BODY}
probe().then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });
`;

/** A browser entry: the result (or the error) lands in `globalThis.__probe` for the test to read. */
export const PROBE_PAGE = `import { ${NAMES} } from "ropekit";
${BODY}
probe().then(
  (r) => { globalThis.__probe = r; },
  (e) => { globalThis.__probe = { error: String((e && e.stack) || e) }; },
);
`;

let reference: ArrayLike<number> | undefined;

/** The largest error of `values` against the f64 reference, relative to the reference's largest magnitude. */
export function probeError(values: readonly number[]): number {
  reference ??= applyRopeReference(
    {
      data: Float32Array.from({ length: SHAPE.reduce((a, b) => a * b, 1) }, (_, i) =>
        Math.sin(i * 0.37 + 0.1),
      ),
      shape: SHAPE,
      layout: "bshd",
    },
    ropeSpecFromHF(CONFIG),
    { positions: POSITIONS },
  ).data;
  return maxRelativeError(values, reference);
}

/** One line of the matrix: consumer, backend, mode, error against the reference. */
export function matrixLine(consumer: string, result: ProbeResult): string {
  const threads = result.threads
    ? `; ${result.threads.mode}: ${probeError(result.threads.values).toExponential(2)}`
    : "; threads: not available";
  return `consumer ${consumer.padEnd(28)} backend ${result.backend.padEnd(5)} mode ${result.mode.padEnd(18)} max error ${probeError(result.values).toExponential(2)}${threads}`;
}

/** Errors of backend-gpujs against the f64 reference backend, per op, as a gpujs page reports them. */
export interface GpujsResult {
  mode: string;
  errors: Record<string, number>;
  error?: string;
}

/**
 * A page that runs every gpu.js kernel (RoPE, attention's four, linear, RMSNorm's two, positional rows)
 * on backend-gpujs and the same ops on the f64 reference backend, in the page, and reports the errors.
 */
export const GPUJS_PAGE = `import { createGpujsBackend } from "@ropekit/backend-gpujs";
import { createReferenceBackend, maxRelativeError, ropeSpecFromHF } from "ropekit";
const CONFIG = ${JSON.stringify(CONFIG)};
const fill = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * s + 0.1));
const heads = (shape, s, layout) => ({ data: fill(shape.reduce((a, b) => a * b, 1), s), shape, layout });
async function probe() {
  const gpu = await createGpujsBackend();
  const ref = createReferenceBackend();
  const both = async (f) => {
    const [a, b] = [await f(gpu), await f(ref)];
    return maxRelativeError((a.output ?? a).data, (b.output ?? b).data);
  };
  const spec = ropeSpecFromHF(CONFIG);
  const errors = {
    applyRope: await both((b) => b.applyRope(heads([1, 16, 4, 64], 0.37, "bshd"), spec, { positions: 1000 })),
    attention: await both((b) =>
      b.attention(heads([1, 4, 32, 16], 0.11, "bhsd"), heads([1, 4, 32, 16], 0.23, "bhsd"), heads([1, 4, 32, 16], 0.31, "bhsd"), { causal: true }),
    ),
    linear: await both((b) =>
      b.linear({ data: fill(8 * 32, 0.2), shape: [8, 32] }, { data: fill(16 * 32, 0.3), shape: [16, 32] }, { data: fill(16, 0.5), shape: [16] }),
    ),
    rmsNorm: await both((b) => b.rmsNorm({ data: fill(8 * 32, 0.7), shape: [8, 32] }, { data: fill(32, 0.9), shape: [32] })),
    addSinusoidal: await both((b) => b.addSinusoidal({ data: fill(16 * 32, 0.13), shape: [1, 16, 32] })),
  };
  const result = { mode: gpu.describe().mode, errors };
  gpu.dispose();
  return result;
}
probe().then(
  (r) => { globalThis.__probe = r; },
  (e) => { globalThis.__probe = { error: String((e && e.stack) || e) }; },
);
`;
