import { addLearnedReference } from "../absolute/learned.js";
import { addSinusoidalReference, sinusoidalReference } from "../absolute/sinusoidal.js";
import { applyRopeReference } from "../rope/apply.js";
import { attentionReference } from "../attention/attention.js";
import { headsShape } from "../tensor.js";
import type { HeadsTensor, Layout } from "../types.js";
import { seededValues } from "./seeded.js";
import { type AttentionCase, attentionCaseOptions } from "./attention-cases.js";
import type { OpCase } from "./op-cases.js";
import { type KindCase, type OpKind, caseTensors } from "./op-kind.js";

/** A golden vector: a case's seeded inputs and the f64 reference's output. */
export interface GoldenVector {
  readonly id: string;
  /** Shape of `expected`. */
  readonly shape: readonly number[];
  /** The tensor the op reads (absent for sinusoidal). Values are multiples of 1/256, exact in f32. */
  readonly input?: readonly number[];
  /** The learned table, for addLearned. */
  readonly table?: readonly number[];
  /** Attention inputs, in the case's layouts. */
  readonly q?: readonly number[];
  readonly k?: readonly number[];
  readonly v?: readonly number[];
  /** f64 reference output, rounded to 12 significant digits. */
  readonly expected: readonly number[];
  /** Attention log-sum-exp per query row; null stands for −Infinity (a fully masked row). */
  readonly lse?: readonly (number | null)[];
  /** The named inputs of an `OpKind` case. */
  readonly inputs?: Readonly<Record<string, readonly number[]>>;
}

/** Seeded q, k, v of an attention case, in its layouts. */
export function attentionCaseInputs(c: AttentionCase): {
  q: HeadsTensor<Float64Array>;
  k: HeadsTensor<Float64Array>;
  v: HeadsTensor<Float64Array>;
} {
  const kvLayout = c.kvLayout ?? c.layout;
  const kvSeq = c.kvCapacity ?? c.kvLen;
  const vd = c.vHeadDim ?? c.headDim;
  const tensor = (
    name: string,
    layout: Layout,
    seq: number,
    heads: number,
    d: number,
  ): HeadsTensor<Float64Array> => ({
    data: seededValues(`${c.id}/${name}`, c.batch * seq * heads * d),
    shape: headsShape(layout, c.batch, seq, heads, d),
    layout,
  });
  return {
    q: tensor("q", c.layout, c.qLen, c.qHeads, c.headDim),
    k: tensor("k", kvLayout, kvSeq, c.kvHeads, c.headDim),
    v: tensor("v", kvLayout, kvSeq, c.kvHeads, vd),
  };
}

/** The committed file's shape. */
export interface GoldenFile {
  readonly about: string;
  readonly vectors: readonly GoldenVector[];
}

/** A golden vector of an `OpKind` case: its seeded inputs by name and the f64 reference's output. */
export function kindGoldenVector<C extends KindCase>(kind: OpKind<C>, c: C): GoldenVector {
  const inputs = kind.inputs(c);
  const out = kind.reference(
    c,
    caseTensors(inputs, (v) => Float64Array.from(v)),
  );
  return {
    id: c.id,
    shape: out.shape,
    inputs: Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, Array.from(t.data)])),
    expected: round(out.data),
  };
}

const round = (values: ArrayLike<number>) => Array.from(values, (v) => Number(v.toPrecision(12)));

/** Computes a case's golden vector from the f64 reference. */
export function goldenVector(c: OpCase): GoldenVector {
  switch (c.op) {
    case "applyRope": {
      const shape = headsShape(c.layout, c.batch, c.seq, c.heads, c.spec.headDim);
      const input = seededValues(c.id, c.batch * c.seq * c.heads * c.spec.headDim);
      const out = applyRopeReference({ data: input, shape, layout: c.layout }, c.spec, {
        ...(c.positions !== undefined ? { positions: c.positions } : {}),
        ...(c.inverse ? { inverse: true } : {}),
        ...(c.seqLen !== undefined ? { seqLen: c.seqLen } : {}),
      });
      return { id: c.id, shape, input: Array.from(input), expected: round(out.data) };
    }
    case "sinusoidal": {
      const out = sinusoidalReference(c.positions, c.dim, c.base);
      return { id: c.id, shape: out.shape, expected: round(out.data) };
    }
    case "addSinusoidal": {
      const shape = [c.batch, c.seq, c.dim] as const;
      const input = seededValues(c.id, c.batch * c.seq * c.dim);
      const out = addSinusoidalReference(
        { data: input, shape },
        {
          ...(c.positions !== undefined ? { positions: c.positions } : {}),
          ...(c.base !== undefined ? { base: c.base } : {}),
        },
      );
      return { id: c.id, shape, input: Array.from(input), expected: round(out.data) };
    }
    case "addLearned": {
      const shape = [c.batch, c.seq, c.dim] as const;
      const input = seededValues(c.id, c.batch * c.seq * c.dim);
      const table = seededValues(`${c.id}/table`, c.tableRows * c.dim);
      const out = addLearnedReference(
        { data: input, shape },
        { data: table, shape: [c.tableRows, c.dim] },
        c.positions !== undefined ? { positions: c.positions } : {},
      );
      return {
        id: c.id,
        shape,
        input: Array.from(input),
        table: Array.from(table),
        expected: round(out.data),
      };
    }
    case "attention": {
      const { q, k, v } = attentionCaseInputs(c);
      const result = attentionReference(q, k, v, attentionCaseOptions(c));
      return {
        id: c.id,
        shape: result.output.shape,
        q: Array.from(q.data),
        k: Array.from(k.data),
        v: Array.from(v.data),
        expected: round(result.output.data),
        ...(result.lse
          ? { lse: Array.from(result.lse, (x) => (Number.isFinite(x) ? Number(x.toPrecision(12)) : null)) }
          : {}),
      };
    }
  }
}
