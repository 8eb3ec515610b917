import { addLearnedReference } from "../absolute/learned.js";
import { addSinusoidalReference, sinusoidalReference } from "../absolute/sinusoidal.js";
import { applyRopeReference } from "../rope/apply.js";
import { headsShape } from "../tensor.js";
import type { OpCase } from "./rope-cases.js";

/** A golden vector: a case's seeded inputs and the f64 reference's output. */
export interface GoldenVector {
  readonly id: string;
  /** Shape of `expected`. */
  readonly shape: readonly number[];
  /** The tensor the op reads (absent for sinusoidal). Values are multiples of 1/256, exact in f32. */
  readonly input?: readonly number[];
  /** The learned table, for addLearned. */
  readonly table?: readonly number[];
  /** f64 reference output, rounded to 12 significant digits. */
  readonly expected: readonly number[];
}

/** The committed file's shape. */
export interface GoldenFile {
  readonly about: string;
  readonly vectors: readonly GoldenVector[];
}

/** FNV-1a hash of a string: the seed of a case's inputs. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * `n` deterministic values in [−2, 2), multiples of 1/256 (exact in f32 and short in JSON),
 * from a mulberry32 stream seeded by `seed`.
 */
export function seededValues(seed: string, n: number): Float64Array {
  let state = hash(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = Math.floor(u * 1024) / 256 - 2;
  }
  return out;
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
  }
}
