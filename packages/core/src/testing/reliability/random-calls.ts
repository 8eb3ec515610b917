import fc from "fast-check";
import type { AttentionOptions, CausalMode } from "../../attention/plan.js";
import type { Backend } from "../../backend/contract.js";
import { seededValues } from "../../cases/seeded.js";
import { headsShape } from "../../tensor.js";
import type { HeadsTensor, Layout, Pairing, RopeScaling, RopeSpec } from "../../types.js";

/** One valid call of an op, as plain data: what the fuzz and concurrency parts draw. */
export type RandomCall =
  | {
      readonly op: "applyRope" | "applyRopeQK";
      readonly seed: string;
      readonly batch: number;
      readonly seq: number;
      readonly heads: number;
      readonly kvHeads: number;
      readonly layout: Layout;
      readonly spec: RopeSpec;
      readonly positions: number | readonly number[];
      readonly inverse: boolean;
    }
  | {
      readonly op: "attention";
      readonly seed: string;
      readonly batch: number;
      readonly qLen: number;
      readonly kvLen: number;
      readonly qHeads: number;
      readonly kvHeads: number;
      readonly headDim: number;
      readonly layout: Layout;
      readonly options: AttentionOptions;
    }
  | {
      readonly op: "addSinusoidal";
      readonly seed: string;
      readonly batch: number;
      readonly seq: number;
      readonly dim: number;
      readonly positions: number | readonly number[];
    }
  | {
      readonly op: "addLearned";
      readonly seed: string;
      readonly batch: number;
      readonly seq: number;
      readonly dim: number;
      readonly positions: number;
    }
  | {
      readonly op: "linear";
      readonly seed: string;
      readonly rows: number;
      readonly inF: number;
      readonly outF: number;
      readonly bias: boolean;
    };

const scalings: readonly RopeScaling[] = [
  { type: "none" },
  { type: "linear", factor: 4 },
  { type: "dynamic", factor: 2, maxPositionEmbeddings: 64 },
  { type: "yarn", factor: 8, originalMaxPositionEmbeddings: 64, betaFast: 32, betaSlow: 1, truncate: false },
  { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
];

const specArb = fc
  .record({
    headDim: fc.constantFrom(4, 8, 16),
    partial: fc.boolean(),
    pairing: fc.constantFrom<Pairing>("half", "interleaved"),
    base: fc.constantFrom(10000, 500000),
    scaling: fc.constantFrom(...scalings),
  })
  .map(({ headDim, partial, pairing, base, scaling }) => ({
    headDim,
    // Partial rotary only where the rotary part stays > 2 (dynamic NTK needs r > 2).
    rotaryDim: partial && headDim >= 8 ? headDim / 2 : headDim,
    base,
    pairing,
    scaling,
  }));

const seed = fc.string({ minLength: 1, maxLength: 6 });
const layout = fc.constantFrom<Layout>("bshd", "bhsd");

const ropeArb = fc
  .record({
    op: fc.constantFrom("applyRope" as const, "applyRopeQK" as const),
    seed,
    batch: fc.integer({ min: 1, max: 2 }),
    seq: fc.integer({ min: 1, max: 9 }),
    group: fc.constantFrom(1, 2),
    kvHeads: fc.integer({ min: 1, max: 2 }),
    layout,
    spec: specArb,
    offset: fc.integer({ min: 0, max: 5000 }),
    explicit: fc.boolean(),
    inverse: fc.boolean(),
  })
  .map((r) => ({
    op: r.op,
    seed: r.seed,
    batch: r.batch,
    seq: r.seq,
    heads: r.kvHeads * r.group,
    kvHeads: r.kvHeads,
    layout: r.layout,
    spec: r.spec,
    // Explicit ids: sparse and unordered, one row per batch entry.
    positions: r.explicit
      ? Array.from({ length: r.batch * r.seq }, (_, i) => (r.offset + i * 37) % 9973)
      : r.offset,
    inverse: r.inverse,
  }));

const attentionArb = fc
  .record({
    seed,
    batch: fc.integer({ min: 1, max: 2 }),
    qLen: fc.integer({ min: 1, max: 9 }),
    extraKv: fc.integer({ min: 0, max: 40 }),
    group: fc.constantFrom(1, 2, 4),
    kvHeads: fc.integer({ min: 1, max: 2 }),
    headDim: fc.constantFrom(4, 8, 16),
    layout,
    causal: fc.constantFrom<CausalMode>(false, true, "top-left"),
    window: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    softcap: fc.option(fc.constantFrom(5, 30), { nil: undefined }),
    alibi: fc.boolean(),
    mask: fc.constantFrom("none", "boolean", "additive"),
    fusedRope: fc.boolean(),
    returnLse: fc.boolean(),
  })
  .map((r) => {
    const qHeads = r.kvHeads * r.group;
    const kvLen = r.qLen + r.extraKv;
    const options: AttentionOptions = {
      causal: r.causal,
      returnLse: r.returnLse,
      ...(r.window !== undefined && r.causal !== false ? { window: r.window } : {}),
      ...(r.softcap !== undefined ? { softcap: r.softcap } : {}),
      ...(r.alibi ? { alibiSlopes: Array.from({ length: qHeads }, (_, h) => 2 ** -(h + 1)) } : {}),
      ...(r.mask === "none" ? {} : { mask: maskFor(r.mask === "boolean", r.seed, r.batch, r.qLen, kvLen) }),
      ...(r.fusedRope
        ? {
            rope: {
              rope: {
                headDim: r.headDim,
                rotaryDim: r.headDim,
                base: 10000,
                pairing: "half" as const,
                scaling: { type: "none" as const },
              },
            },
          }
        : {}),
    };
    return {
      op: "attention" as const,
      seed: r.seed,
      batch: r.batch,
      qLen: r.qLen,
      kvLen,
      qHeads,
      kvHeads: r.kvHeads,
      headDim: r.headDim,
      layout: r.layout,
      options,
    };
  });

/** A [batch, 1, qLen, kvLen] mask: boolean keeps about 3 keys in 4; additive adds small biases. */
function maskFor(boolean: boolean, s: string, batch: number, qLen: number, kvLen: number) {
  const values = seededValues(`mask ${s}`, batch * qLen * kvLen);
  const shape = [batch, 1, qLen, kvLen] as const;
  return boolean
    ? { data: Uint8Array.from(values, (v) => (v > -1 ? 1 : 0)), shape }
    : { data: Float32Array.from(values), shape };
}

/** The shape of an embedding [batch, seq, dim] and its seed, shared by both absolute encodings. */
const embeddingArb = {
  seed,
  batch: fc.integer({ min: 1, max: 2 }),
  seq: fc.integer({ min: 1, max: 9 }),
  dim: fc.integer({ min: 1, max: 24 }),
};

const absoluteArb = fc.oneof(
  fc.record({
    op: fc.constant("addSinusoidal" as const),
    ...embeddingArb,
    positions: fc.oneof(
      fc.integer({ min: 0, max: 100000 }),
      fc.constant([0, 2 ** 24, 7] as readonly number[]),
    ),
  }),
  fc.record({
    op: fc.constant("addLearned" as const),
    ...embeddingArb,
    positions: fc.integer({ min: 0, max: 20 }),
  }),
  fc.record({
    op: fc.constant("linear" as const),
    seed,
    rows: fc.integer({ min: 1, max: 12 }),
    inF: fc.integer({ min: 1, max: 40 }),
    outF: fc.integer({ min: 1, max: 40 }),
    bias: fc.boolean(),
  }),
);

/** Any valid call: attention and RoPE most often, the other ops too. */
export const randomCall: fc.Arbitrary<RandomCall> = fc
  .oneof(
    { arbitrary: ropeArb, weight: 3 },
    { arbitrary: attentionArb, weight: 3 },
    { arbitrary: absoluteArb, weight: 1 },
  )
  .filter((c) => c.op !== "addSinusoidal" || typeof c.positions === "number" || c.seq === 3);

function heads(s: string, layout: Layout, batch: number, seq: number, n: number, d: number): HeadsTensor {
  const shape = headsShape(layout, batch, seq, n, d);
  return { data: Float32Array.from(seededValues(s, batch * seq * n * d)), shape, layout };
}

/** The flat numbers a call returns, in a fixed order, to compare a backend with the reference. */
export type CallResult = readonly (ArrayLike<number> | undefined)[];

/** Runs `call` on `backend` with fresh inputs; `place` may move a head tensor into backend memory. */
export async function runCall(
  backend: Backend,
  call: RandomCall,
  place: (t: HeadsTensor) => HeadsTensor = (t) => t,
): Promise<CallResult> {
  switch (call.op) {
    case "applyRope": {
      const x = place(heads(call.seed, call.layout, call.batch, call.seq, call.heads, call.spec.headDim));
      const out = await backend.applyRope(x, call.spec, { positions: call.positions, inverse: call.inverse });
      return [out.data];
    }
    case "applyRopeQK": {
      const q = place(
        heads(`q${call.seed}`, call.layout, call.batch, call.seq, call.heads, call.spec.headDim),
      );
      const k = place(
        heads(`k${call.seed}`, call.layout, call.batch, call.seq, call.kvHeads, call.spec.headDim),
      );
      const out = await backend.applyRopeQK(q, k, call.spec, { positions: call.positions });
      return [out.q.data, out.k.data];
    }
    case "attention": {
      const q = place(heads(`q${call.seed}`, call.layout, call.batch, call.qLen, call.qHeads, call.headDim));
      const k = place(
        heads(`k${call.seed}`, call.layout, call.batch, call.kvLen, call.kvHeads, call.headDim),
      );
      const v = place(
        heads(`v${call.seed}`, call.layout, call.batch, call.kvLen, call.kvHeads, call.headDim),
      );
      const out = await backend.attention(q, k, v, call.options);
      return [out.output.data, out.lse];
    }
    case "addSinusoidal": {
      const data = Float32Array.from(seededValues(call.seed, call.batch * call.seq * call.dim));
      const out = await backend.addSinusoidal(
        { data, shape: [call.batch, call.seq, call.dim] },
        { positions: call.positions },
      );
      return [out.data];
    }
    case "addLearned": {
      const data = Float32Array.from(seededValues(call.seed, call.batch * call.seq * call.dim));
      const rows = call.positions + call.seq;
      const table = {
        data: Float32Array.from(seededValues(`t${call.seed}`, rows * call.dim)),
        shape: [rows, call.dim],
      };
      const out = await backend.addLearned({ data, shape: [call.batch, call.seq, call.dim] }, table, {
        positions: call.positions,
      });
      return [out.data];
    }
    case "linear": {
      const x = {
        data: Float32Array.from(seededValues(call.seed, call.rows * call.inF)),
        shape: [call.rows, call.inF],
      };
      const w = {
        data: Float32Array.from(seededValues(`w${call.seed}`, call.outF * call.inF)),
        shape: [call.outF, call.inF],
      };
      const b = call.bias
        ? { data: Float32Array.from(seededValues(`b${call.seed}`, call.outF)), shape: [call.outF] }
        : undefined;
      return [(await backend.linear(x, w, b)).data];
    }
  }
}
