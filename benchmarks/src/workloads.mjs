// What each configuration computes: deterministic inputs, the work it must do (bytes moved, flops), a
// correctness gate against the f64 reference of @ropekit/core, and the copy of the same bytes that is its
// memory ceiling. Runs in Node and in the browser (no Node imports).
import {
  addSinusoidalReference,
  applyRopeReference,
  attentionReference,
  headsShape,
  maxRelativeError,
  ropeSpec,
  toLayout,
  visibleKeys,
} from "@ropekit/core";
import { seededValues } from "@ropekit/core/cases";
import { kindWorkload } from "./kinds.mjs";

/** Relative error above which a result is wrong: far above f32 rounding, far below any real bug. */
export const GATE_TOLERANCE = 1e-3;

/** Seeded inputs from core's generator (values in [−2, 2), exact in f32), scaled to the ±0.5 range. */
const fill = (n, seed) => Float32Array.from(seededValues(`bench/${seed}`, n), (v) => v / 4);

/** Rows `rows` (token indices) of batch row 0 of a head tensor, as a bshd [1, rows.length, heads, dim] array. */
function pickTokens(data, layout, seq, heads, dim, rows) {
  const first = data.subarray(0, seq * heads * dim); // batch row 0, in either layout
  const bshd = toLayout({ data: first, shape: headsShape(layout, 1, seq, heads, dim), layout }, "bshd").data;
  const out = new Float32Array(rows.length * heads * dim);
  for (const [r, s] of rows.entries())
    out.set(bshd.subarray(s * heads * dim, (s + 1) * heads * dim), r * heads * dim);
  return out;
}

function ropeWorkload(c) {
  const n = c.batch * c.seq * c.heads * c.headDim;
  const x = fill(n, 0.37);
  const spec = ropeSpec({ headDim: c.headDim, rotaryDim: c.rotaryDim, base: 500000, pairing: c.pairing });
  // Gate on the first and last four tokens (every head): the f64 reference at their positions.
  const rows =
    c.seq <= 8 ? [...Array(c.seq).keys()] : [0, 1, 2, 3, c.seq - 4, c.seq - 3, c.seq - 2, c.seq - 1];
  return {
    inputs: {
      x,
      shape: headsShape(c.layout, c.batch, c.seq, c.heads, c.headDim),
      spec,
      position: c.position,
    },
    bytes: 2 * n * 4,
    flops: undefined,
    copyElements: n,
    ceiling: "copy-fresh",
    gate(out) {
      const expected = applyRopeReference(
        {
          data: pickTokens(x, c.layout, c.seq, c.heads, c.headDim, rows),
          shape: [1, rows.length, c.heads, c.headDim],
          layout: "bshd",
        },
        spec,
        { positions: rows.map((s) => c.position + s) },
      ).data;
      return maxRelativeError(pickTokens(out, c.layout, c.seq, c.heads, c.headDim, rows), expected);
    },
  };
}

function sinusoidalWorkload(c) {
  const n = c.batch * c.seq * c.dim;
  const x = fill(n, 0.29);
  return {
    inputs: { x, shape: [c.batch, c.seq, c.dim] },
    bytes: 2 * n * 4,
    flops: undefined,
    copyElements: n,
    ceiling: "copy-fresh",
    gate(out) {
      const rows = 16;
      const from = (c.seq - rows) * c.dim;
      const expected = addSinusoidalReference(
        { data: x.subarray(from, from + rows * c.dim), shape: [1, rows, c.dim] },
        { positions: c.seq - rows },
      ).data;
      return maxRelativeError(out.subarray(from, from + rows * c.dim), expected);
    },
  };
}

/** Query/key pairs a (bottom-right) causal query set sees, from core's own visible-key bounds. */
export function visiblePairs(qLen, kvLen, causal) {
  const bounds = { causal, qOffset: kvLen - qLen, kvLen, window: 0 };
  let pairs = 0;
  for (let i = 0; i < qLen; i++) {
    const { lo, hi } = visibleKeys(bounds, i);
    pairs += hi - lo;
  }
  return pairs;
}

function attentionWorkload(c) {
  const q = fill(c.batch * c.qLen * c.qHeads * c.headDim, 0.37);
  const k = fill(c.batch * c.kvLen * c.kvHeads * c.headDim, 0.11);
  const v = fill(c.batch * c.kvLen * c.kvHeads * c.headDim, 0.23);
  const pairs = c.batch * c.qHeads * visiblePairs(c.qLen, c.kvLen, c.causal);
  const kvBytes = 2 * k.length * 4;
  const decode = c.qLen === 1;
  return {
    inputs: {
      q,
      k,
      v,
      qShape: headsShape(c.layout, c.batch, c.qLen, c.qHeads, c.headDim),
      kvShape: headsShape(c.layout, c.batch, c.kvLen, c.kvHeads, c.headDim),
    },
    // Decode is memory-bound: every cached key and value read once (plus q and the output).
    bytes: kvBytes + 2 * q.length * 4,
    // QKᵀ and PV: one multiply-add each per visible pair and channel = 4·d flops; softmax not counted.
    flops: 4 * c.headDim * pairs,
    copyElements: decode ? 2 * k.length : q.length,
    // Decode writes one token: its ceiling is the bandwidth of a copy into existing memory.
    ceiling: decode ? "copy" : "matmul",
    gate(out) {
      // The last rows (up to 64) of query head 0 against the f64 reference, computed as a decode step over
      // the whole cache — bottom-right causal alignment makes those rows identical to the prefill rows.
      const rows = Math.min(c.qLen, 64);
      const head = (data, heads, seq, h, from, count) =>
        pickTokens(
          data,
          c.layout,
          seq,
          heads,
          c.headDim,
          [...Array(count).keys()].map((i) => from + i),
        ).filter((_, j) => Math.floor(j / c.headDim) % heads === h);
      const kvHead = 0;
      const expected = attentionReference(
        {
          data: head(q, c.qHeads, c.qLen, 0, c.qLen - rows, rows),
          shape: [1, rows, 1, c.headDim],
          layout: "bshd",
        },
        {
          data: head(k, c.kvHeads, c.kvLen, kvHead, 0, c.kvLen),
          shape: [1, c.kvLen, 1, c.headDim],
          layout: "bshd",
        },
        {
          data: head(v, c.kvHeads, c.kvLen, kvHead, 0, c.kvLen),
          shape: [1, c.kvLen, 1, c.headDim],
          layout: "bshd",
        },
        { causal: c.causal },
      ).output.data;
      return maxRelativeError(head(out, c.qHeads, c.qLen, 0, c.qLen - rows, rows), expected);
    },
  };
}

/**
 * The workload of a configuration from the grid: `bytes` moved (reads + writes) and `flops` of useful
 * work, and which ceiling bounds it — "copy-fresh" (a copy of the same bytes into a new array, since the
 * op returns a new array whose pages must be faulted in, as every out-of-place op's are), "copy" (into
 * existing memory), or "matmul" (the SIMD matmul peak).
 */
export function workload(config) {
  if (config.kind) return kindWorkload(config);
  if (config.op === "rope") return ropeWorkload(config);
  if (config.op === "sinusoidal") return sinusoidalWorkload(config);
  if (config.op === "attention") return attentionWorkload(config);
  throw new Error(`unknown op ${config.op}`);
}
