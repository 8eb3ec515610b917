import { type Dtype, type RmsNormKernelPlan, halfBits, halfValue } from "@ropekit/core";
import { type GpuContext, type ParamFields, computeMain, kernelInterface, packParams } from "../context.js";
import {
  type GpuData,
  dtypeKey,
  elementOf,
  gpuData,
  halfLoaders,
  isHalf,
  load,
  outputArray,
  outputPasses,
  recordOutput,
  resultData,
} from "./half-wgsl.js";

const WG = 64;
/** The rmsNorm kernel's uniform fields. */
export const RMS_NORM_FIELDS: ParamFields = {
  rows: "u32",
  dim: "u32",
  eps: "f32",
  weightOffset: "f32",
  hasWeight: "u32",
};
const FIELDS = RMS_NORM_FIELDS;
/** f32 x is normalised in place; half x is read as packed words and the f32 result written to `out`. */
export function rmsNormInterface(xd: Dtype, wd: Dtype) {
  return isHalf(xd)
    ? kernelInterface(FIELDS, [
        ["x", "read", "u32"],
        ["w", "read", elementOf(wd)],
        ["out", "rw"],
      ])
    : kernelInterface(FIELDS, [
        ["x", "rw"],
        ["w", "read", elementOf(wd)],
      ]);
}

/**
 * RMSNorm, one workgroup per row: the largest |x| first, then the sum of (x / max)² — so squares of
 * large values cannot overflow f32 — then x / rms · (offset + w).
 */
export function rmsNormWgsl(xd: Dtype, wd: Dtype): string {
  const x = (i: string) => load("x", xd, i);
  return /* wgsl */ `
${rmsNormInterface(xd, wd).wgsl}${halfLoaders([
  ["x", xd],
  ["w", wd],
])}

var<workgroup> part: array<f32, ${WG}>;

${computeMain(WG)}
  let row = wg.z * nwg.x + wg.x;
  let base = min(row, P.rows - 1u) * P.dim;
  var top = 0.0;
  for (var c = lid; c < P.dim; c += ${WG}u) { top = max(top, abs(${x("base + c")})); }
  part[lid] = top;
  workgroupBarrier();
  for (var n = ${WG / 2}u; n > 0u; n = n / 2u) {
    if (lid < n) { part[lid] = max(part[lid], part[lid + n]); }
    workgroupBarrier();
  }
  let m = part[0];
  workgroupBarrier();
  var sum = 0.0;
  if (m > 0.0) {
    for (var c = lid; c < P.dim; c += ${WG}u) { let y = ${x("base + c")} / m; sum += y * y; }
  }
  part[lid] = sum;
  workgroupBarrier();
  for (var n = ${WG / 2}u; n > 0u; n = n / 2u) {
    if (lid < n) { part[lid] = part[lid] + part[lid + n]; }
    workgroupBarrier();
  }
  if (row >= P.rows || m == 0.0) { return; }
  // rms = m · sqrt(Σ(x/m)²/dim + eps/m²), so x/rms = (x/m) / sqrt(…) — while eps/m² cannot overflow;
  // for small rows with eps > 0, x / sqrt(m²·Σ(x/m)²/dim + eps) instead.
  let ms = part[0] / f32(P.dim);
  var inv = 0.0;
  var pre = 1.0;
  if (m >= 1.0 || P.eps == 0.0) {
    inv = 1.0 / sqrt(ms + (P.eps / m) / m);
    pre = 1.0 / m;
  } else {
    inv = 1.0 / sqrt(m * m * ms + P.eps);
  }
  for (var c = lid; c < P.dim; c += ${WG}u) {
    var y = (${x("base + c")} * pre) * inv;
    if (P.hasWeight != 0u) { y = y * (P.weightOffset + ${load("w", wd, "c")}); }
    ${isHalf(xd) ? "out" : "x"}[base + c] = y;
  }
}
`;
}

/** Element i of kernel data as a number (half bits decoded). */
function valueAt(data: GpuData, dtype: Dtype, i: number): number {
  const x = data[i] as number;
  return isHalf(dtype) ? halfValue(x, dtype) : x;
}

/** True when half bits are ±∞ or NaN (the exponent field all ones). */
function halfNonFinite(bits: number, dtype: Dtype): boolean {
  return dtype === "float16" ? (bits & 0x7c00) === 0x7c00 : (bits & 0x7f80) === 0x7f80;
}

/**
 * The row in f64, as the reference computes it (inputs decoded, the result rounded to x's dtype): for
 * rows f32 must not be trusted with (non-finite, all zero).
 */
function rowInF64(src: GpuData, out: GpuData, plan: RmsNormKernelPlan, w: GpuData, r: number): void {
  const { dim, eps, weightOffset } = plan;
  const xd = plan.x.dtype;
  const wd = plan.weight?.dtype ?? "float32";
  const o = r * dim;
  let sum = 0;
  for (let c = 0; c < dim; c++) sum += valueAt(src, xd, o + c) ** 2;
  const inv = 1 / Math.sqrt(sum / dim + eps);
  for (let c = 0; c < dim; c++) {
    const y = valueAt(src, xd, o + c) * inv;
    const v = plan.weight ? y * (weightOffset + valueAt(w, wd, c)) : y;
    out[o + c] = isHalf(xd) ? halfBits(v, xd) : v;
  }
}

/**
 * Rows whose largest |x| reaches this go to the CPU too: the kernel divides by that maximum, and a GPU may
 * divide through the reciprocal, which is an f32 subnormal (flushed to 0 by some, SwiftShader among them)
 * from 2^126 up. Only f32 and bfloat16 data can be that large.
 */
export const HUGE = 2 ** 126;

/**
 * rmsNorm on the GPU in chunks of whole rows, x and the weight in any declared dtype (halves decoded in
 * the kernel, f32 arithmetic), the output in x's dtype. Rows holding NaN or ±∞, all-zero rows (0/0 when
 * eps is 0) and rows of values ≥ 2^126 are computed on the CPU in f64: WGSL may assume NaN and ∞ never
 * occur.
 */
export async function rmsNormOnGpu(ctx: GpuContext, plan: RmsNormKernelPlan): Promise<GpuData> {
  const xd = plan.x.dtype;
  const wd = plan.weight?.dtype ?? "float32";
  const iface = rmsNormInterface(xd, wd);
  const key = isHalf(xd) || isHalf(wd) ? `rms-norm:${dtypeKey(xd)}:${dtypeKey(wd)}` : "rms-norm";
  const kernel = await ctx.kernel(key, () => rmsNormWgsl(xd, wd), iface.bindings);
  const passes = await outputPasses(ctx, xd);
  const { rows, dim } = plan;
  const src = gpuData(plan.x.data, xd);
  const out = outputArray(xd, src.length);
  const w = plan.weight ? gpuData(plan.weight.data, wd) : new Float32Array(4);
  const perChunk = Math.max(
    1,
    Math.min(Math.floor(ctx.maxBindingElements / dim), ctx.gpu.limits.maxWorkgroupsPerDimension ** 2),
  );
  for (let r0 = 0; r0 < rows; r0 += perChunk) {
    const r1 = Math.min(rows, r0 + perChunk);
    const n = (r1 - r0) * dim;
    const [part] = await ctx.run((job) => {
      const xb = job.upload(src.subarray(r0 * dim, r1 * dim), "x");
      const wb = job.upload(w, "weight");
      const params = job.uniform(
        packParams(FIELDS, {
          rows: r1 - r0,
          dim,
          eps: plan.eps,
          weightOffset: plan.weightOffset,
          hasWeight: plan.weight ? 1 : 0,
        }),
      );
      if (passes) {
        const yb = job.scratch(n, "output");
        job.dispatch(kernel, [xb, wb, yb, params], r1 - r0);
        recordOutput(job, passes, yb, n);
      } else {
        job.dispatch(kernel, [xb, wb, params], r1 - r0);
        job.read(xb, n);
      }
    });
    out.set(resultData(part as Float32Array, xd, n), r0 * dim);
  }
  const finiteAt = (data: GpuData, dtype: Dtype, i: number) =>
    isHalf(dtype) ? !halfNonFinite(data[i] as number, dtype) : Number.isFinite(data[i] as number);
  let weightFinite = true;
  if (plan.weight) for (let c = 0; c < dim; c++) if (!finiteAt(w, wd, c)) weightFinite = false;
  for (let r = 0; r < rows; r++) {
    let finite = weightFinite;
    let zero = true;
    for (let c = r * dim; c < (r + 1) * dim; c++) {
      const x = valueAt(src, xd, c);
      if (!finiteAt(src, xd, c) || Math.abs(x) >= HUGE) finite = false;
      else if (x !== 0) zero = false;
    }
    if (!finite || zero) rowInF64(src, out, plan, w, r);
  }
  return out;
}
