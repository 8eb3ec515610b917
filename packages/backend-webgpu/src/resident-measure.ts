import type { HeadsDims } from "@ropekit/core";
import {
  type GpuContext,
  type Job,
  type Kernel,
  type ParamFields,
  computeMain,
  kernelInterface,
  packParams,
} from "./context.js";
import { type GpuDtype, dtypeKey, elementOf, halfLoaders, load } from "./kernels/half-wgsl.js";

const WG = 64;
const FIELDS: ParamFields = {
  rows: "u32",
  seq: "u32",
  heads: "u32",
  dim: "u32",
  sb: "u32",
  ss: "u32",
  sh: "u32",
};
function measureInterface(dtype: GpuDtype) {
  return kernelInterface(FIELDS, [
    ["x", "read", elementOf(dtype)],
    ["norm", "rw"],
    ["top", "rw"],
  ]);
}

/**
 * The WGSL test that element `c` of row `base` is NaN or ±∞, from its stored exponent bits: for halves the
 * raw half bits (all-ones exponent: 0x7c00 in float16, 0x7f80 in bfloat16), never the decoded value —
 * WGSL lets an implementation assume `unpack2x16float` sees finite values, so ∞/NaN may not survive it.
 */
function nonFinite(dtype: GpuDtype): string {
  if (dtype === "float32") return "(bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u";
  const mask = dtype === "float16" ? "0x7c00u" : "0x7f80u";
  return `(half_bits(base + c) & ${mask}) == ${mask}`;
}

/** The raw bits of half element `i` of the packed words in `x` (halves only; empty for f32). */
function halfBitsWgsl(dtype: GpuDtype): string {
  if (dtype === "float32") return "";
  return /* wgsl */ `
fn half_bits(i: u32) -> u32 { let w = x[i >> 1u]; return select(w & 0xffffu, w >> 16u, (i & 1u) == 1u); }`;
}

/**
 * Per head row of a tensor (f32, or float16 / bfloat16 decoded exactly) (bhsd row order, as core's
 * `headRowMeasure`): its L2 norm and its largest |value|, or −1 in both for a row holding a NaN or ±∞ —
 * found from the stored exponent bits (see `nonFinite`), which WGSL cannot optimise away as it may
 * comparisons with NaN. The norm is m·√Σ(x/m)² with m the largest |value|, so squares of large values
 * cannot overflow f32. Exported for tests.
 */
export function measureWgsl(dtype: GpuDtype): string {
  return /* wgsl */ `
${measureInterface(dtype).wgsl}${halfLoaders([["x", dtype]])}${halfBitsWgsl(dtype)}

${computeMain(WG)}
  let r = (wg.z * nwg.x + wg.x) * ${WG}u + lid;
  if (r >= P.rows) { return; }
  let s = r % P.seq;
  let bh = r / P.seq;
  let h = bh % P.heads;
  let b = bh / P.heads;
  let base = b * P.sb + h * P.sh + s * P.ss;
  var m = 0.0;
  var bad = false;
  for (var c = 0u; c < P.dim; c++) {
    let v = ${load("x", dtype, "base + c")};
    if (${nonFinite(dtype)}) { bad = true; }
    m = max(m, abs(v));
  }
  if (bad) { norm[r] = -1.0; top[r] = -1.0; return; }
  var acc = 0.0;
  if (m > 0.0) {
    for (var c = 0u; c < P.dim; c++) { let y = ${load("x", dtype, "base + c")} / m; acc += y * y; }
  }
  norm[r] = m * sqrt(acc);
  top[r] = m;
}
`;
}

/** The measure kernel for data of `dtype` (halves read as packed words). */
export function measureKernel(ctx: GpuContext, dtype: GpuDtype): Promise<Kernel> {
  return ctx.kernel(
    `resident-measure:${dtypeKey(dtype)}`,
    () => measureWgsl(dtype),
    measureInterface(dtype).bindings,
  );
}

/** Records the measure of the head rows of `x` (laid out as `d`); returns the norm and max buffers. */
export function recordMeasure(
  job: Job,
  kernel: Kernel,
  x: GPUBuffer,
  d: HeadsDims,
): { norm: GPUBuffer; top: GPUBuffer; rows: number } {
  const rows = d.batch * d.heads * d.seq;
  const norm = job.scratch(rows, "row norms");
  const top = job.scratch(rows, "row maxima");
  const params = job.uniform(
    packParams(FIELDS, {
      rows,
      seq: d.seq,
      heads: d.heads,
      dim: d.headDim,
      sb: d.strideBatch,
      ss: d.strideSeq,
      sh: d.strideHead,
    }),
  );
  job.dispatch(kernel, [x, norm, top, params], Math.ceil(rows / WG));
  return { norm, top, rows };
}

/** A read-back measure as core's `headRowMeasure` gives it: f64, NaN for a row with a NaN or ±∞. */
export function measureValues(values: Float32Array): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    out[i] = x < 0 ? Number.NaN : x;
  }
  return out;
}
