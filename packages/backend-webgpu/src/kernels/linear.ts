import type { Dtype, LinearKernelPlan } from "@ropekit/core";
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

/** Rows and columns of the output block one workgroup computes. */
export const LINEAR_TILE = 16;
const T = LINEAR_TILE;
/** The linear kernel's uniform fields. */
export const LINEAR_FIELDS: ParamFields = {
  rows: "u32",
  inF: "u32",
  outF: "u32",
  hasBias: "u32",
  colTiles: "u32",
};
const FIELDS = LINEAR_FIELDS;
/** The dtypes of x, W and the bias (halves are read as packed words; y is always f32). */
export interface LinearDtypes {
  readonly x: Dtype;
  readonly w: Dtype;
  readonly bias: Dtype;
}

/** The linear kernel's bindings for these dtypes: x, w, bias, y, then the uniform. */
export function linearInterface(d: LinearDtypes) {
  return kernelInterface(FIELDS, [
    ["x", "read", elementOf(d.x)],
    ["w", "read", elementOf(d.w)],
    ["bias", "read", elementOf(d.bias)],
    ["y", "rw"],
  ]);
}

/**
 * y = x·Wᵀ + b as a tiled matmul: a 16×16 workgroup computes a 16×16 block of y, staging 16×16 tiles of
 * x and W in workgroup memory for each step along the input features.
 */
export function linearWgsl(d: LinearDtypes): string {
  return /* wgsl */ `
${linearInterface(d).wgsl}${halfLoaders([
  ["x", d.x],
  ["w", d.w],
  ["bias", d.bias],
])}

var<workgroup> xs: array<f32, ${T * T}>;
var<workgroup> ws: array<f32, ${T * T}>;

${computeMain(`${T}, ${T}`, "id")}
  let tile = wg.z * nwg.x + wg.x;
  let rowTile = tile / P.colTiles;
  let colTile = tile - rowTile * P.colTiles;
  let row = rowTile * ${T}u + l.y;
  let col = colTile * ${T}u + l.x;
  let wRow = colTile * ${T}u + l.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < P.inF; k0 += ${T}u) {
    let k = k0 + l.x;
    var xv = 0.0;
    if (row < P.rows && k < P.inF) { xv = ${load("x", d.x, "row * P.inF + k")}; }
    var wv = 0.0;
    if (wRow < P.outF && k < P.inF) { wv = ${load("w", d.w, "wRow * P.inF + k")}; }
    xs[l.y * ${T}u + l.x] = xv;
    ws[l.y * ${T}u + l.x] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < ${T}u; kk++) {
      acc += xs[l.y * ${T}u + kk] * ws[l.x * ${T}u + kk];
    }
    workgroupBarrier();
  }
  if (row < P.rows && col < P.outF) {
    if (P.hasBias != 0u) { acc += ${load("bias", d.bias, "col")}; }
    y[row * P.outF + col] = acc;
  }
}
`;
}

/**
 * linear on the GPU, chunked over rows of x (and over output features when W does not fit one binding).
 * x, W and the bias in any declared dtype (halves decoded as the tiles are staged), f32 accumulation,
 * the output in `plan.outDtype`. Float64 inputs are rounded to f32 on upload, as every f32 backend does.
 */
export async function linearOnGpu(ctx: GpuContext, plan: LinearKernelPlan): Promise<GpuData> {
  const { rows, inFeatures, outFeatures, x, weight, bias } = plan;
  const d: LinearDtypes = {
    x: isHalf(x.dtype) ? x.dtype : "float32",
    w: isHalf(weight.dtype) ? weight.dtype : "float32",
    bias: bias && isHalf(bias.dtype) ? bias.dtype : "float32",
  };
  const key =
    isHalf(d.x) || isHalf(d.w) || isHalf(d.bias)
      ? `linear:${dtypeKey(d.x)}:${dtypeKey(d.w)}:${dtypeKey(d.bias)}`
      : "linear";
  const kernel = await ctx.kernel(key, () => linearWgsl(d), linearInterface(d).bindings);
  const outDtype = plan.outDtype;
  const passes = await outputPasses(ctx, outDtype);
  const max = ctx.maxBindingElements;
  const xs = gpuData(x.data, d.x);
  const w = gpuData(weight.data, d.w);
  const b = bias ? gpuData(bias.data, d.bias) : new Float32Array(1);
  const out = outputArray(outDtype, rows * outFeatures);
  const outPerCall = Math.max(1, Math.min(outFeatures, Math.floor(max / inFeatures)));
  for (let o0 = 0; o0 < outFeatures; o0 += outPerCall) {
    const no = Math.min(outPerCall, outFeatures - o0);
    const rowsPerCall = Math.max(1, Math.floor(max / Math.max(inFeatures, no)));
    for (let r0 = 0; r0 < rows; r0 += rowsPerCall) {
      const nr = Math.min(rowsPerCall, rows - r0);
      const colTiles = Math.ceil(no / T);
      const [part] = await ctx.run((job) => {
        const xb = job.upload(xs.subarray(r0 * inFeatures, (r0 + nr) * inFeatures), "x");
        const wb = job.upload(w.subarray(o0 * inFeatures, (o0 + no) * inFeatures), "weight");
        const bb = job.upload(bias ? b.subarray(o0, o0 + no) : b, "bias");
        const yb = job.scratch(nr * no, "y");
        const params = job.uniform(
          packParams(FIELDS, { rows: nr, inF: inFeatures, outF: no, hasBias: bias ? 1 : 0, colTiles }),
        );
        job.dispatch(kernel, [xb, wb, bb, yb, params], Math.ceil(nr / T) * colTiles);
        recordOutput(job, passes, yb, nr * no);
      });
      const p = resultData(part as Float32Array, outDtype, nr * no);
      if (no === outFeatures) out.set(p, r0 * outFeatures);
      else
        for (let r = 0; r < nr; r++) out.set(p.subarray(r * no, (r + 1) * no), (r0 + r) * outFeatures + o0);
    }
  }
  return out;
}
