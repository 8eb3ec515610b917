import { type HeadsTensor, type RopeKernelPlan, RopekitError } from "@ropekit/core";
import { type GpuContext, type KernelThis, MAX_KERNEL_ELEMENTS } from "../gpu.js";

/**
 * One output channel of RoPE. The thread index covers a run of rows (one head of one token each, headDim
 * channels); `rowStart` is the first row of the run. Integer divisions round from the middle ((n + 0.5) / d)
 * because GPU float division is not exact. cos/sin come per token from the CPU (f64 trig, f32 storage):
 * GPU sin/cos are not accurate enough for positions in the thousands.
 */
function ropeKernel(
  this: KernelThis,
  x: Float32Array,
  cosT: Float32Array,
  sinT: Float32Array,
  headDim: number,
  half: number,
  rotaryDim: number,
  interleaved: number,
  heads: number,
  seq: number,
  bhsd: number,
  sign: number,
  mul: number,
  rowStart: number,
): number {
  const idx = this.thread.x;
  const localRow = Math.floor((idx + 0.5) / headDim);
  const row = rowStart + localRow;
  const c = idx - localRow * headDim;
  const self = x[idx] as number;
  if (c >= rotaryDim) return self;
  let token = 0;
  if (bhsd > 0.5) {
    const bh = Math.floor((row + 0.5) / seq);
    const s = row - bh * seq;
    const b = Math.floor((bh + 0.5) / heads);
    token = b * seq + s;
  } else {
    token = Math.floor((row + 0.5) / heads);
  }
  let i = 0;
  let first = 1;
  let partner = 0;
  if (interleaved > 0.5) {
    i = Math.floor((c + 0.5) / 2);
    if (c - i * 2 > 0.5) {
      first = 0;
      partner = idx - 1;
    } else {
      partner = idx + 1;
    }
  } else if (c < half) {
    i = c;
    partner = idx + half;
  } else {
    i = c - half;
    first = 0;
    partner = idx - half;
  }
  const co = cosT[token * half + i] as number;
  const sn = sign * (sinT[token * half + i] as number);
  const other = x[partner] as number;
  if (first > 0.5) return (self * co - other * sn) * mul;
  return (self * co + other * sn) * mul;
}

/**
 * applyRope on the GPU: rotates a copy of x (or x itself in place) in runs of whole rows small enough for
 * exact f32 indexing. The table rows of each token are gathered on the CPU first, so positions given as
 * offsets or ids cost the kernel nothing. Rows holding a NaN or ±∞ are rotated on the CPU (GL has no
 * reliable NaN or infinity), so a non-finite input row stays non-finite exactly as in the reference — which
 * fused RoPE + attention relies on to find the rows to recompute.
 */
export async function applyRope(ctx: GpuContext, plan: RopeKernelPlan): Promise<HeadsTensor<Float32Array>> {
  const { dims, spec, table, rows } = plan;
  const { batch, seq, heads, headDim } = dims;
  const half = spec.rotaryDim / 2;
  const tokens = batch * seq;
  if (tokens * half > MAX_KERNEL_ELEMENTS) {
    throw new RopekitError(
      "TOO_LARGE",
      `x has ${tokens} tokens × ${half} frequencies; the gpujs backend indexes at most 2^24 table entries per call (f32 kernel arithmetic): split the batch`,
      "x.shape",
    );
  }
  const src = plan.x.data as Float32Array;
  const out = plan.inPlace ? src : new Float32Array(src.length);
  const cos = new Float32Array(tokens * half);
  const sin = new Float32Array(tokens * half);
  for (let t = 0; t < tokens; t++) {
    const from = (rows[t] as number) * half;
    cos.set(table.cos.subarray(from, from + half), t * half);
    sin.set(table.sin.subarray(from, from + half), t * half);
  }
  // Inverse: rotate by −angle and undo the attention scale folded into the table (c² + s² = scale²).
  const sign = plan.inverse ? -1 : 1;
  const mul = plan.inverse ? 1 / (table.attentionScale * table.attentionScale) : 1;
  const totalRows = tokens * heads;
  // Copied before the GPU writes anything: in place, x's rows are overwritten.
  const nonFinite = nonFiniteRows(src, totalRows, headDim);
  const kernel = ctx.kernel("rope", ropeKernel);
  const rowsPerCall = Math.max(1, Math.floor(ctx.chunk / headDim));
  for (let r0 = 0; r0 < totalRows; r0 += rowsPerCall) {
    const n = Math.min(rowsPerCall, totalRows - r0);
    const part = await ctx.read(
      kernel,
      n * headDim,
      src.subarray(r0 * headDim, (r0 + n) * headDim),
      cos,
      sin,
      headDim,
      half,
      spec.rotaryDim,
      spec.pairing === "interleaved" ? 1 : 0,
      heads,
      seq,
      dims.layout === "bhsd" ? 1 : 0,
      sign,
      mul,
      r0,
    );
    out.set(part, r0 * headDim);
  }
  for (const [row, values] of nonFinite) {
    // The token of the row, as the kernel finds it: bshd rows run over heads fastest, bhsd over seq.
    const token =
      dims.layout === "bhsd" ? Math.floor(row / (heads * seq)) * seq + (row % seq) : Math.floor(row / heads);
    const at = token * half;
    const interleaved = spec.pairing === "interleaved";
    for (let i = 0; i < half; i++) {
      const a = interleaved ? 2 * i : i;
      const b = interleaved ? 2 * i + 1 : i + half;
      const c = cos[at + i] as number;
      const s = sign * (sin[at + i] as number);
      const x = values[a] as number;
      const y = values[b] as number;
      values[a] = (x * c - y * s) * mul;
      values[b] = (y * c + x * s) * mul;
    }
    out.set(values, row * headDim);
  }
  return { data: out, shape: [...plan.x.shape] as [number, number, number, number], layout: plan.x.layout };
}

/** Copies of the rows (of `width` values) that hold a NaN or ±∞, by row index. */
function nonFiniteRows(data: Float32Array, rows: number, width: number): Map<number, Float32Array> {
  const found = new Map<number, Float32Array>();
  for (let r = 0; r < rows; r++) {
    for (let i = r * width; i < (r + 1) * width; i++) {
      const v = data[i] as number;
      // v − v is 0 for every finite v, NaN for NaN and ±∞.
      if (v - v !== 0) {
        found.set(r, data.slice(r * width, (r + 1) * width));
        break;
      }
    }
  }
  return found;
}
