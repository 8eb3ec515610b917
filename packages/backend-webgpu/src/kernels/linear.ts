import type { LinearKernelPlan } from "@ropekit/core";
import { type GpuContext, type ParamFields, computeMain, kernelInterface, packParams } from "../context.js";

const T = 16;
const FIELDS: ParamFields = { rows: "u32", inF: "u32", outF: "u32", hasBias: "u32", colTiles: "u32" };
const LINEAR = kernelInterface(FIELDS, [
  ["x", "read"],
  ["w", "read"],
  ["bias", "read"],
  ["y", "rw"],
]);

/**
 * y = x·Wᵀ + b as a tiled matmul: a 16×16 workgroup computes a 16×16 block of y, staging 16×16 tiles of
 * x and W in workgroup memory for each step along the input features.
 */
function linearWgsl(): string {
  return /* wgsl */ `
${LINEAR.wgsl}

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
    if (row < P.rows && k < P.inF) { xv = x[row * P.inF + k]; }
    var wv = 0.0;
    if (wRow < P.outF && k < P.inF) { wv = w[wRow * P.inF + k]; }
    xs[l.y * ${T}u + l.x] = xv;
    ws[l.y * ${T}u + l.x] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < ${T}u; kk++) {
      acc += xs[l.y * ${T}u + kk] * ws[l.x * ${T}u + kk];
    }
    workgroupBarrier();
  }
  if (row < P.rows && col < P.outF) {
    if (P.hasBias != 0u) { acc += bias[col]; }
    y[row * P.outF + col] = acc;
  }
}
`;
}

/**
 * linear on the GPU, chunked over rows of x (and over output features when W does not fit one binding).
 * Float64 inputs are rounded to f32 on upload, as every f32 backend does.
 */
export async function linearOnGpu(ctx: GpuContext, plan: LinearKernelPlan): Promise<Float32Array> {
  const { rows, inFeatures, outFeatures, x, weight, bias } = plan;
  const kernel = await ctx.kernel("linear", linearWgsl, LINEAR.bindings);
  const max = ctx.maxBindingElements;
  const xs = x.data instanceof Float32Array ? x.data : Float32Array.from(x.data);
  const w = weight.data instanceof Float32Array ? weight.data : Float32Array.from(weight.data);
  const b = bias ? Float32Array.from(bias.data) : new Float32Array(1);
  const out = new Float32Array(rows * outFeatures);
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
        job.read(yb, nr * no);
      });
      const p = part as Float32Array;
      if (no === outFeatures) out.set(p, r0 * outFeatures);
      else
        for (let r = 0; r < nr; r++) out.set(p.subarray(r * no, (r + 1) * no), (r0 + r) * outFeatures + o0);
    }
  }
  return out;
}
