import type { ApplyRopePlan, Dtype, RopeTable } from "@ropekit/core";
import {
  type GpuContext,
  type Job,
  type Kernel,
  type ParamFields,
  packParams,
  computeMain,
  kernelInterface,
} from "../context.js";
import {
  type GpuData,
  type HalfPasses,
  halfPasses,
  isHalf,
  outputArray,
  recordDecode,
  recordOutput,
  resultData,
} from "./half-wgsl.js";

/**
 * One tensor to rotate: its plan, its data (f32, or half bits when `plan.x.dtype` is a half), and the
 * table rows of its tokens (from RopeTableCache.forPlan).
 */
export interface RopeItem {
  readonly plan: ApplyRopePlan & { readonly x: { readonly dtype: Dtype } };
  readonly data: GpuData;
  readonly table: RopeTable;
  readonly rows: Int32Array;
}

const WG = 64;

const SEGMENT = {
  rows: "u32",
  heads: "u32",
  bhsd: "u32",
  base: "u32",
  rowStart: "u32",
} as const;

const FIELDS: ParamFields = {
  ...Object.fromEntries(Object.entries(SEGMENT).map(([k, t]) => [`a_${k}`, t])),
  ...Object.fromEntries(Object.entries(SEGMENT).map(([k, t]) => [`b_${k}`, t])),
  seq: "u32",
  headDim: "u32",
  half: "u32",
  interleaved: "u32",
  tokenBase: "u32",
  sign: "f32",
  mul: "f32",
};
const ROPE = kernelInterface(FIELDS, [
  ["x", "rw"],
  ["cosT", "read"],
  ["sinT", "read"],
]);

/**
 * Rotates, in place in `x`, the pairs of up to two tensors (q and k in one dispatch) that share a token
 * grid and a table. One thread per (row, frequency) pair; cos/sin per token were computed in f64 on the
 * CPU and arrive as f32 (GPU sin/cos of large angles is not accurate enough).
 */
function ropeWgsl(): string {
  return /* wgsl */ `
${ROPE.wgsl}

${computeMain(WG)}
  var t = (wg.z * nwg.x + wg.x) * ${WG}u + lid;
  let pairsA = P.a_rows * P.half;
  var rows = P.a_rows; var heads = P.a_heads; var bhsd = P.a_bhsd; var base = P.a_base; var rowStart = P.a_rowStart;
  if (t >= pairsA) {
    t = t - pairsA;
    rows = P.b_rows; heads = P.b_heads; bhsd = P.b_bhsd; base = P.b_base; rowStart = P.b_rowStart;
  }
  if (t >= rows * P.half) { return; }
  let local = t / P.half;
  let i = t - local * P.half;
  let row = rowStart + local;
  var token: u32;
  if (bhsd != 0u) {
    let bh = row / P.seq;
    token = (bh / heads) * P.seq + (row - bh * P.seq);
  } else {
    token = row / heads;
  }
  let o = base + local * P.headDim;
  var ia = o + i;
  var ib = o + i + P.half;
  if (P.interleaved != 0u) { ia = o + 2u * i; ib = ia + 1u; }
  let ti = (token - P.tokenBase) * P.half + i;
  let c = cosT[ti];
  let s = P.sign * sinT[ti];
  let a = x[ia];
  let b = x[ib];
  x[ia] = (a * c - b * s) * P.mul;
  x[ib] = (b * c + a * s) * P.mul;
}
`;
}

export function ropeKernel(ctx: GpuContext): Promise<Kernel> {
  return ctx.kernel("rope", ropeWgsl, ROPE.bindings);
}

/** Token index of a head row (b, s, h) in the row order of the layout. */
function tokenOf(plan: ApplyRopePlan, row: number): number {
  const { seq, heads, layout } = plan.dims;
  if (layout === "bshd") return Math.floor(row / heads);
  const bh = Math.floor(row / seq);
  return Math.floor(bh / heads) * seq + (row - bh * seq);
}

/** cos/sin of tokens [t0, t1], gathered from the table rows of those tokens. */
function gatherTable(item: RopeItem, t0: number, t1: number): { cos: Float32Array; sin: Float32Array } {
  const half = item.plan.spec.rotaryDim / 2;
  const n = t1 - t0 + 1;
  const cos = new Float32Array(n * half);
  const sin = new Float32Array(n * half);
  const { table, rows } = item;
  for (let t = 0; t < n; t++) {
    const from = (rows[t0 + t] as number) * half;
    cos.set(table.cos.subarray(from, from + half), t * half);
    sin.set(table.sin.subarray(from, from + half), t * half);
  }
  return { cos, sin };
}

/** Inverse: rotate by −angle and undo the attention scale folded into the table (c² + s² = scale²). */
function signAndMul(item: RopeItem): { sign: number; mul: number } {
  const a = item.table.attentionScale;
  return item.plan.inverse ? { sign: -1, mul: 1 / (a * a) } : { sign: 1, mul: 1 };
}

/**
 * Records the rotation of rows [r0, r1) of `item`, whose data sits at element `base` of `x`. Used by
 * applyRope and by fused RoPE inside attention (on buffers already on the GPU).
 */
export function recordRope(
  job: Job,
  kernel: Kernel,
  x: GPUBuffer,
  segments: readonly { item: RopeItem; base: number; r0: number; r1: number }[],
): void {
  const first = segments[0];
  if (!first) return;
  const { plan } = first.item;
  let t0 = Number.POSITIVE_INFINITY;
  let t1 = 0;
  for (const s of segments) {
    // Tokens of a row range: in bshd the ends bound it; in bhsd a range spanning (b, h) blocks covers whole batches.
    const a = tokenOf(s.item.plan, s.r0);
    const b = tokenOf(s.item.plan, s.r1 - 1);
    const { seq, heads, layout } = s.item.plan.dims;
    if (layout === "bhsd" && Math.floor(s.r0 / seq) !== Math.floor((s.r1 - 1) / seq)) {
      t0 = Math.min(t0, Math.floor(s.r0 / (seq * heads)) * seq);
      t1 = Math.max(t1, Math.floor((s.r1 - 1) / (seq * heads)) * seq + seq - 1);
    } else {
      t0 = Math.min(t0, a, b);
      t1 = Math.max(t1, a, b);
    }
  }
  const { cos, sin } = gatherTable(first.item, t0, t1);
  const { sign, mul } = signAndMul(first.item);
  const values: Record<string, number> = {
    seq: plan.dims.seq,
    headDim: plan.dims.headDim,
    half: plan.spec.rotaryDim / 2,
    interleaved: plan.spec.pairing === "interleaved" ? 1 : 0,
    tokenBase: t0,
    sign,
    mul,
  };
  let pairs = 0;
  segments.forEach((s, n) => {
    const p = n === 0 ? "a_" : "b_";
    values[`${p}rows`] = s.r1 - s.r0;
    values[`${p}heads`] = s.item.plan.dims.heads;
    values[`${p}bhsd`] = s.item.plan.dims.layout === "bhsd" ? 1 : 0;
    values[`${p}base`] = s.base;
    values[`${p}rowStart`] = s.r0;
    pairs += (s.r1 - s.r0) * (plan.spec.rotaryDim / 2);
  });
  const cosBuffer = job.upload(cos, "rope table");
  const sinBuffer = job.upload(sin, "rope table");
  const params = job.uniform(packParams(FIELDS, values));
  job.dispatch(kernel, [x, cosBuffer, sinBuffer, params], Math.ceil(pairs / WG));
}

/**
 * Puts `data` (a whole buffer's worth of one dtype) on the GPU as f32 for the rotation: f32 data as is,
 * half bits uploaded packed and decoded on the GPU (the rotation kernel itself is f32-only).
 */
function uploadForRope(job: Job, passes: HalfPasses | undefined, data: GpuData): GPUBuffer {
  const raw = job.upload(data, "x");
  return passes ? recordDecode(job, passes, raw, data.length) : raw;
}

/**
 * applyRope on the GPU for one tensor, or q and k together (same batch, seq and table): uploaded into one
 * buffer and rotated in one dispatch when they fit one binding, else in chunks of whole rows. Half data
 * (both tensors of one half dtype) is decoded to f32 on the GPU, rotated by the same f32 kernel, and
 * rounded back to half bits (ties to even) on the GPU; the results come in each tensor's dtype.
 */
export async function ropeOnGpu(ctx: GpuContext, items: readonly RopeItem[]): Promise<GpuData[]> {
  const dtype = (items[0] as RopeItem).plan.x.dtype;
  if (items.some((it) => it.plan.x.dtype !== dtype)) {
    // q and k of different dtypes: one at a time.
    const out: GpuData[] = [];
    for (const it of items) out.push(...(await ropeOnGpu(ctx, [it])));
    return out;
  }
  const kernel = await ropeKernel(ctx);
  const passes = isHalf(dtype) ? await halfPasses(ctx, dtype) : undefined;
  const total = items.reduce((n, it) => n + it.data.length, 0);
  if (total <= ctx.maxBindingElements && items.length <= 2) {
    const [out] = await ctx.run((job) => {
      const joined = items.length === 1 ? (items[0] as RopeItem).data : outputArray(dtype, total);
      if (items.length > 1) {
        let at = 0;
        for (const it of items) {
          joined.set(it.data, at);
          at += it.data.length;
        }
      }
      const x = uploadForRope(job, passes, joined);
      let base = 0;
      const segments = items.map((item) => {
        const rows = item.data.length / item.plan.dims.headDim;
        const s = { item, base, r0: 0, r1: rows };
        base += item.data.length;
        return s;
      });
      recordRope(job, kernel, x, segments);
      recordOutput(job, passes, x, total);
    });
    const result = resultData(out as Float32Array, dtype, total);
    let at = 0;
    return items.map((it) => {
      const part = result.subarray(at, at + it.data.length);
      at += it.data.length;
      return part;
    });
  }
  const results: GpuData[] = [];
  for (const item of items) {
    const { headDim } = item.plan.dims;
    const totalRows = item.data.length / headDim;
    const rowsPerChunk = Math.max(1, Math.floor(ctx.maxBindingElements / headDim));
    const out = outputArray(dtype, item.data.length);
    for (let r0 = 0; r0 < totalRows; r0 += rowsPerChunk) {
      const r1 = Math.min(totalRows, r0 + rowsPerChunk);
      const n = (r1 - r0) * headDim;
      const [part] = await ctx.run((job) => {
        const x = uploadForRope(job, passes, item.data.subarray(r0 * headDim, r1 * headDim));
        recordRope(job, kernel, x, [{ item, base: 0, r0, r1 }]);
        recordOutput(job, passes, x, n);
      });
      out.set(resultData(part as Float32Array, dtype, n), r0 * headDim);
    }
    results.push(out);
  }
  return results;
}
