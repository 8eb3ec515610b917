import type { AddRowsKernelPlan, Dtype } from "@ropekit/core";
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
const FIELDS: ParamFields = { tokens: "u32", dim: "u32" };
/** f32 x is added to in place; half x is read as packed words and the f32 sum written to `out`. */
function addRowsInterface(xd: Dtype, td: Dtype) {
  return isHalf(xd)
    ? kernelInterface(FIELDS, [
        ["x", "read", "u32"],
        ["table", "read", elementOf(td)],
        ["rows", "read", "i32"],
        ["out", "rw"],
      ])
    : kernelInterface(FIELDS, [
        ["x", "rw"],
        ["table", "read", elementOf(td)],
        ["rows", "read", "i32"],
      ]);
}

/** out[t, c] = x[t, c] + table[rows[t], c]: the add of both absolute encodings, with the gather on the GPU. */
function addRowsWgsl(xd: Dtype, td: Dtype): string {
  return /* wgsl */ `
${addRowsInterface(xd, td).wgsl}${halfLoaders([
  ["x", xd],
  ["table", td],
])}

${computeMain(WG)}
  let e = (wg.z * nwg.x + wg.x) * ${WG}u + lid;
  if (e >= P.tokens * P.dim) { return; }
  let t = e / P.dim;
  let c = e - t * P.dim;
  ${isHalf(xd) ? "out" : "x"}[e] = ${load("x", xd, "e")} + ${load("table", td, "u32(rows[t]) * P.dim + c")};
}
`;
}

/**
 * Adds table rows to x on the GPU: `table` holds rows [first, …] of the encoding and `rowOf[t]` is the
 * absolute row of token t. Chunks of whole tokens keep x and the table part inside one binding.
 */
async function addRows(
  ctx: GpuContext,
  x: GpuData,
  xd: Dtype,
  dim: number,
  rowOf: Int32Array,
  td: Dtype,
  tableRows: (from: number, to: number) => GpuData,
): Promise<GpuData> {
  const key = isHalf(xd) || isHalf(td) ? `add-rows:${dtypeKey(xd)}:${dtypeKey(td)}` : "add-rows";
  const kernel = await ctx.kernel(key, () => addRowsWgsl(xd, td), addRowsInterface(xd, td).bindings);
  const passes = await outputPasses(ctx, xd);
  const tokens = rowOf.length;
  const out = outputArray(xd, x.length);
  // Half the binding for x, half for the table rows a chunk needs (at most one per token).
  const perChunk = Math.max(1, Math.floor(ctx.maxBindingElements / dim / 2));
  for (let t0 = 0; t0 < tokens; t0 += perChunk) {
    const t1 = Math.min(tokens, t0 + perChunk);
    let lo = Number.POSITIVE_INFINITY;
    let hi = -1;
    for (let t = t0; t < t1; t++) {
      const r = rowOf[t] as number;
      if (r < lo) lo = r;
      if (r > hi) hi = r;
    }
    const dense = hi - lo + 1 <= Math.max(t1 - t0, ctx.maxBindingElements / dim / 2);
    const local = new Int32Array(t1 - t0);
    let table: GpuData;
    if (dense) {
      for (let t = t0; t < t1; t++) local[t - t0] = (rowOf[t] as number) - lo;
      table = tableRows(lo, hi);
    } else {
      // Sparse rows: gather them on the CPU, one per token.
      table = outputArray(td, (t1 - t0) * dim);
      for (let t = t0; t < t1; t++) {
        const r = rowOf[t] as number;
        table.set(tableRows(r, r), (t - t0) * dim);
        local[t - t0] = t - t0;
      }
    }
    const n = (t1 - t0) * dim;
    const [part] = await ctx.run((job) => {
      const xb = job.upload(x.subarray(t0 * dim, t1 * dim), "x");
      const tb = job.upload(table, "table");
      const rb = job.upload(local, "positions");
      const params = job.uniform(packParams(FIELDS, { tokens: t1 - t0, dim }));
      if (passes) {
        const yb = job.scratch(n, "output");
        job.dispatch(kernel, [xb, tb, rb, yb, params], Math.ceil(n / 64));
        recordOutput(job, passes, yb, n);
      } else {
        job.dispatch(kernel, [xb, tb, rb, params], Math.ceil(n / 64));
        job.read(xb, n);
      }
    });
    out.set(resultData(part as Float32Array, xd, n), t0 * dim);
  }
  return out;
}

/**
 * out[t] = x[t] + table[rows[t]] for addSinusoidal (core's f64 encoding rows) and addLearned: x and a
 * learned table in any declared dtype (halves decoded in the kernel), the sum in f32, the output in x's
 * dtype. A float64 table (core's sinusoidal rows on an f64 backend) is rounded to f32 on upload.
 */
export function addRowsOnGpu(ctx: GpuContext, plan: AddRowsKernelPlan): Promise<GpuData> {
  const dim = plan.dims[2];
  const { table } = plan;
  const xd = plan.x.dtype;
  const td: Dtype = isHalf(plan.tableDtype) ? plan.tableDtype : "float32";
  const rows = (from: number, to: number): GpuData => {
    const part = table.subarray(from * dim, (to + 1) * dim);
    return part instanceof Float64Array ? Float32Array.from(part) : gpuData(part, td);
  };
  return addRows(ctx, gpuData(plan.x.data, xd), xd, dim, plan.rows, td, rows);
}
