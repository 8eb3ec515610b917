import type { AddRowsKernelPlan } from "@ropekit/core";
import { type GpuContext, type ParamFields, computeMain, kernelInterface, packParams } from "../context.js";

const WG = 64;
const FIELDS: ParamFields = { tokens: "u32", dim: "u32" };
const ADD_ROWS = kernelInterface(FIELDS, [
  ["x", "rw"],
  ["table", "read"],
  ["rows", "read", "i32"],
]);

/** out[t, c] = x[t, c] + table[rows[t], c]: the add of both absolute encodings, with the gather on the GPU. */
function addRowsWgsl(): string {
  return /* wgsl */ `
${ADD_ROWS.wgsl}

${computeMain(WG)}
  let e = (wg.z * nwg.x + wg.x) * ${WG}u + lid;
  if (e >= P.tokens * P.dim) { return; }
  let t = e / P.dim;
  let c = e - t * P.dim;
  x[e] = x[e] + table[u32(rows[t]) * P.dim + c];
}
`;
}

/**
 * Adds table rows to x on the GPU: `table` holds rows [first, …] of the encoding and `rowOf[t]` is the
 * absolute row of token t. Chunks of whole tokens keep x and the table part inside one binding.
 */
async function addRows(
  ctx: GpuContext,
  x: Float32Array,
  dim: number,
  rowOf: Int32Array,
  tableRows: (from: number, to: number) => Float32Array,
): Promise<Float32Array> {
  const kernel = await ctx.kernel("add-rows", addRowsWgsl, ADD_ROWS.bindings);
  const tokens = rowOf.length;
  const out = new Float32Array(x.length);
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
    let table: Float32Array;
    if (dense) {
      for (let t = t0; t < t1; t++) local[t - t0] = (rowOf[t] as number) - lo;
      table = tableRows(lo, hi);
    } else {
      // Sparse rows: gather them on the CPU, one per token.
      table = new Float32Array((t1 - t0) * dim);
      for (let t = t0; t < t1; t++) {
        const r = rowOf[t] as number;
        table.set(tableRows(r, r), (t - t0) * dim);
        local[t - t0] = t - t0;
      }
    }
    const [part] = await ctx.run((job) => {
      const xb = job.upload(x.subarray(t0 * dim, t1 * dim), "x");
      const tb = job.upload(table, "table");
      const rb = job.upload(local, "positions");
      const params = job.uniform(packParams(FIELDS, { tokens: t1 - t0, dim }));
      job.dispatch(kernel, [xb, tb, rb, params], Math.ceil(((t1 - t0) * dim) / 64));
      job.read(xb, (t1 - t0) * dim);
    });
    out.set(part as Float32Array, t0 * dim);
  }
  return out;
}

/** out[t] = x[t] + table[rows[t]] for addSinusoidal (core's f64 encoding rows) and addLearned. */
export function addRowsOnGpu(ctx: GpuContext, plan: AddRowsKernelPlan): Promise<Float32Array> {
  const dim = plan.dims[2];
  const { table } = plan;
  return addRows(ctx, plan.x.data as Float32Array, dim, plan.rows, (from, to) =>
    table instanceof Float32Array
      ? table.subarray(from * dim, (to + 1) * dim)
      : Float32Array.from(table.subarray(from * dim, (to + 1) * dim)),
  );
}
