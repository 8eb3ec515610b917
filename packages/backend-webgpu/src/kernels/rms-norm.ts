import type { RmsNormKernelPlan } from "@ropekit/core";
import { type GpuContext, type ParamFields, computeMain, kernelInterface, packParams } from "../context.js";

const WG = 64;
const FIELDS: ParamFields = { rows: "u32", dim: "u32", eps: "f32", weightOffset: "f32", hasWeight: "u32" };
const RMS_NORM = kernelInterface(FIELDS, [
  ["x", "rw"],
  ["w", "read"],
]);

/**
 * RMSNorm, one workgroup per row: the largest |x| first, then the sum of (x / max)² — so squares of
 * large values cannot overflow f32 — then x / rms · (offset + w).
 */
function rmsNormWgsl(): string {
  return /* wgsl */ `
${RMS_NORM.wgsl}

var<workgroup> part: array<f32, ${WG}>;

${computeMain(WG)}
  let row = wg.z * nwg.x + wg.x;
  let base = min(row, P.rows - 1u) * P.dim;
  var top = 0.0;
  for (var c = lid; c < P.dim; c += ${WG}u) { top = max(top, abs(x[base + c])); }
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
    for (var c = lid; c < P.dim; c += ${WG}u) { let y = x[base + c] / m; sum += y * y; }
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
    var y = (x[base + c] * pre) * inv;
    if (P.hasWeight != 0u) { y = y * (P.weightOffset + w[c]); }
    x[base + c] = y;
  }
}
`;
}

/** The row in f64, as the reference computes it: for rows f32 must not be trusted with (non-finite, all zero). */
function rowInF64(src: Float32Array, out: Float32Array, plan: RmsNormKernelPlan, r: number): void {
  const { dim, eps, weightOffset } = plan;
  const w = plan.weight?.data;
  const o = r * dim;
  let sum = 0;
  for (let c = 0; c < dim; c++) sum += (src[o + c] as number) ** 2;
  const inv = 1 / Math.sqrt(sum / dim + eps);
  for (let c = 0; c < dim; c++) {
    const y = (src[o + c] as number) * inv;
    out[o + c] = w ? y * (weightOffset + (w[c] as number)) : y;
  }
}

/**
 * rmsNorm on the GPU in chunks of whole rows. Rows holding NaN or ±∞, and all-zero rows (0/0 when eps
 * is 0), are computed on the CPU in f64: WGSL may assume NaN and ∞ never occur.
 */
export async function rmsNormOnGpu(ctx: GpuContext, plan: RmsNormKernelPlan): Promise<Float32Array> {
  const kernel = await ctx.kernel("rms-norm", rmsNormWgsl, RMS_NORM.bindings);
  const { rows, dim } = plan;
  const src = plan.x.data as Float32Array;
  const out = new Float32Array(src.length);
  const w = plan.weight ? Float32Array.from(plan.weight.data) : new Float32Array(4);
  const perChunk = Math.max(
    1,
    Math.min(Math.floor(ctx.maxBindingElements / dim), ctx.gpu.limits.maxWorkgroupsPerDimension ** 2),
  );
  for (let r0 = 0; r0 < rows; r0 += perChunk) {
    const r1 = Math.min(rows, r0 + perChunk);
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
      job.dispatch(kernel, [xb, wb, params], r1 - r0);
      job.read(xb, (r1 - r0) * dim);
    });
    out.set(part as Float32Array, r0 * dim);
  }
  let weightFinite = true;
  for (const x of w) if (!Number.isFinite(x)) weightFinite = false;
  for (let r = 0; r < rows; r++) {
    let finite = weightFinite;
    let zero = true;
    for (let c = r * dim; c < (r + 1) * dim; c++) {
      const x = src[c] as number;
      if (!Number.isFinite(x)) finite = false;
      else if (x !== 0) zero = false;
    }
    if (!finite || zero) rowInF64(src, out, plan, r);
  }
  return out;
}
