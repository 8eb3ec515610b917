import type { AttentionOptions } from "../../attention/plan.js";
import type { Backend } from "../../backend/contract.js";
import type { RopekitErrorCode } from "../../errors.js";
import type { RmsNormOptions } from "../../norm/rms-norm.js";
import { ropeSpec } from "../../rope/spec.js";
import { ropeTable } from "../../rope/table.js";
import type { HeadsTensor, Layout, RopeSpec, Tensor } from "../../types.js";

/** The inputs of a hostile case and the call that uses them. */
export interface HostileCall {
  /** The inputs (checked byte for byte afterwards). */
  readonly args: readonly unknown[];
  /** Runs the bad call on a backend. */
  readonly call: (backend: Backend) => Promise<unknown>;
}

/** One bad input: the call, the error it must raise, and the arguments that must come back untouched. */
export interface HostileCase {
  readonly name: string;
  readonly code: RopekitErrorCode;
  /** The `argument` the error must name. */
  readonly argument: string;
  /** Builds fresh inputs and the call that uses them. */
  readonly make: () => HostileCall;
}

const spec: RopeSpec = ropeSpec({ headDim: 8 });

function heads(shape: [number, number, number, number], layout: Layout = "bhsd"): HeadsTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) + 0.1), shape, layout };
}

function embedding(batch: number, seq: number, dim: number): Tensor & { shape: [number, number, number] } {
  const data = Float32Array.from({ length: batch * seq * dim }, (_, i) => Math.cos(i * 0.3));
  return { data, shape: [batch, seq, dim] };
}

/** A tensor whose buffer was transferred away (what postMessage with a transfer list leaves behind). */
function detached(shape: [number, number, number, number]): HeadsTensor {
  const x = heads(shape);
  structuredClone(x.data.buffer, { transfer: [x.data.buffer as ArrayBuffer] });
  return x;
}

/** What every hostile case starts with: its name, the code and the argument the error must name. */
type Named = [name: string, code: RopekitErrorCode, argument: string];

/** A hostile case from its fresh arguments and the call that uses them. */
function hostile<A extends readonly unknown[]>(
  [name, code, argument]: Named,
  args: () => A,
  call: (backend: Backend, args: A) => Promise<unknown>,
): HostileCase {
  return {
    name,
    code,
    argument,
    make: () => {
      const fresh = args();
      return { args: fresh, call: (b) => call(b, fresh) };
    },
  };
}

type Dims4 = [number, number, number, number];

const rope = (
  ...[name, code, argument, x, r, options]: [...Named, () => HeadsTensor, () => unknown, () => unknown]
) =>
  hostile(
    [name, code, argument],
    () => [x(), r(), options()] as const,
    (b, [x, r, o]) => b.applyRope(x, r as RopeSpec, o as Record<string, never>),
  );

const attn = (
  ...[name, code, argument, shapes, options]: [...Named, { q: Dims4; k: Dims4; v?: Dims4 }, () => unknown]
) =>
  hostile(
    [name, code, argument],
    () => [heads(shapes.q), heads(shapes.k), heads(shapes.v ?? shapes.k), options()] as const,
    (b, [q, k, v, o]) => b.attention(q, k, v, o as AttentionOptions),
  );

const norm = (named: Named, weightLength: number, options: RmsNormOptions) =>
  hostile(
    named,
    () =>
      [embedding(1, 3, 8), { data: new Float32Array(weightLength), shape: [weightLength] }, options] as const,
    (b, [x, w, o]) => b.rmsNorm(x, w, o),
  );

const x4 = () => heads([1, 2, 3, 8]);
const none = () => ({});
const qkv: { q: Dims4; k: Dims4 } = { q: [1, 4, 3, 8], k: [1, 2, 5, 8] };

/** Every kind of bad input the README's Errors section names, each with the code and argument it gets. */
export const HOSTILE_CASES: readonly HostileCase[] = [
  // applyRope: tensors
  rope(
    "shape and data length disagree",
    "INVALID_SHAPE",
    "x.data",
    () => ({ ...heads([1, 2, 3, 8]), shape: [1, 2, 4, 8] }),
    () => spec,
    none,
  ),
  rope(
    "a dimension is 0",
    "INVALID_SHAPE",
    "x.shape",
    () => ({ ...heads([1, 2, 3, 8]), shape: [1, 0, 3, 8] }),
    () => spec,
    none,
  ),
  rope(
    "shape is not rank 4",
    "INVALID_SHAPE",
    "x.shape",
    () => ({ ...heads([1, 2, 3, 8]), shape: [6, 8] as unknown as [number, number, number, number] }),
    () => spec,
    none,
  ),
  rope(
    "zero-length live array",
    "INVALID_SHAPE",
    "x.data",
    () => ({ ...heads([1, 1, 1, 8]), data: new Float32Array(0) }),
    () => spec,
    none,
  ),
  rope(
    "unknown layout",
    "INVALID_LAYOUT",
    "x.layout",
    () => ({ ...heads([1, 2, 3, 8]), layout: "bsdh" as Layout }),
    () => spec,
    none,
  ),
  rope(
    "integer data",
    "INVALID_DTYPE",
    "x.data",
    () => ({ ...heads([1, 2, 3, 8]), data: new Int32Array(48) as unknown as Float32Array }),
    () => spec,
    none,
  ),
  rope(
    "plain array data",
    "INVALID_DTYPE",
    "x.data",
    () => ({ ...heads([1, 2, 3, 8]), data: Array.from({ length: 48 }, () => 0) as unknown as Float32Array }),
    () => spec,
    none,
  ),
  rope(
    "a Uint16Array without a dtype (float16 or bfloat16 bits?)",
    "INVALID_DTYPE",
    "x.dtype",
    () => ({ ...heads([1, 2, 3, 8]), data: new Uint16Array(48) as unknown as Float32Array }),
    () => spec,
    none,
  ),
  rope(
    "a dtype that contradicts the array (bfloat16 on a Float32Array)",
    "INVALID_DTYPE",
    "x.dtype",
    () => ({ ...heads([1, 2, 3, 8]), dtype: "bfloat16" as const }),
    () => spec,
    none,
  ),
  rope(
    "detached buffer",
    "DETACHED_BUFFER",
    "x.data",
    () => detached([1, 2, 3, 8]),
    () => spec,
    none,
  ),
  rope(
    "head size differs from the spec",
    "INVALID_SHAPE",
    "x.shape",
    () => heads([1, 2, 3, 4]),
    () => spec,
    none,
  ),
  // applyRope: spec and table
  rope("odd rotaryDim", "INVALID_ROTARY_DIM", "rotaryDim", x4, () => ({ ...spec, rotaryDim: 7 }), none),
  rope(
    "rotaryDim past headDim",
    "INVALID_ROTARY_DIM",
    "rotaryDim",
    x4,
    () => ({ ...spec, rotaryDim: 10 }),
    none,
  ),
  rope("NaN base", "INVALID_OPTION", "base", x4, () => ({ ...spec, base: Number.NaN }), none),
  rope(
    "unknown rope type",
    "UNKNOWN_ROPE_TYPE",
    "scaling.type",
    x4,
    () => ({ ...spec, scaling: { type: "ntk-by-parts" } }),
    none,
  ),
  rope(
    "table that does not cover the positions",
    "POSITION_OUT_OF_RANGE",
    "positions",
    x4,
    () => ropeTable(spec, { start: 0, length: 2 }),
    none,
  ),
  rope(
    "forged table",
    "INVALID_OPTION",
    "rope",
    x4,
    () => ({ ...ropeTable(spec, { start: 0, length: 3 }), length: 99 }),
    none,
  ),
  rope("rope is null", "INVALID_OPTION", "rope", x4, () => null, none),
  // applyRope: positions and options
  rope(
    "negative offset",
    "INVALID_POSITIONS",
    "positions",
    x4,
    () => spec,
    () => ({ positions: -1 }),
  ),
  rope(
    "fractional offset",
    "INVALID_POSITIONS",
    "positions",
    x4,
    () => spec,
    () => ({ positions: 1.5 }),
  ),
  rope(
    "NaN offset",
    "INVALID_POSITIONS",
    "positions",
    x4,
    () => spec,
    () => ({ positions: Number.NaN }),
  ),
  rope(
    "offset past int32",
    "INVALID_POSITIONS",
    "positions",
    x4,
    () => spec,
    () => ({ positions: 2 ** 31 - 2 }),
  ),
  rope(
    "ids of the wrong length",
    "INVALID_POSITIONS",
    "positions",
    x4,
    () => spec,
    () => ({ positions: [0, 1] }),
  ),
  rope(
    "a NaN id",
    "INVALID_POSITIONS",
    "positions[1]",
    x4,
    () => spec,
    () => ({ positions: [0, Number.NaN, 2] }),
  ),
  rope(
    "misspelled option",
    "INVALID_OPTION",
    "options.inplace",
    x4,
    () => spec,
    () => ({ inplace: true }),
  ),
  rope(
    "null option",
    "INVALID_OPTION",
    "options.positions",
    x4,
    () => spec,
    () => ({ positions: null }),
  ),
  rope(
    "non-boolean inPlace",
    "INVALID_OPTION",
    "inPlace",
    x4,
    () => spec,
    () => ({ inPlace: "yes" }),
  ),
  rope(
    "options is a number",
    "INVALID_OPTION",
    "options",
    x4,
    () => spec,
    () => 3,
  ),
  rope(
    "bad seqLen",
    "INVALID_OPTION",
    "seqLen",
    x4,
    () => spec,
    () => ({ seqLen: 0 }),
  ),
  hostile(
    ["applyRopeQK with different sequence lengths", "INVALID_SHAPE", "k.shape"],
    () => [heads([1, 2, 3, 8]), heads([1, 2, 4, 8])] as const,
    (b, [q, k]) => b.applyRopeQK(q, k, spec, { inPlace: true }),
  ),
  // attention
  attn(
    "kv heads do not divide q heads",
    "INVALID_SHAPE",
    "k.shape",
    { q: [1, 3, 3, 8], k: [1, 2, 5, 8] },
    none,
  ),
  attn("k head size differs", "INVALID_SHAPE", "k.shape", { q: [1, 4, 3, 8], k: [1, 2, 5, 4] }, none),
  attn(
    "v length differs",
    "INVALID_SHAPE",
    "v.shape",
    { q: [1, 4, 3, 8], k: [1, 2, 5, 8], v: [1, 2, 4, 8] },
    none,
  ),
  attn("scale is null", "INVALID_OPTION", "options.scale", qkv, () => ({ scale: null })),
  attn("scale is 0", "INVALID_OPTION", "scale", qkv, () => ({ scale: 0 })),
  attn("scale is NaN", "INVALID_OPTION", "scale", qkv, () => ({ scale: Number.NaN })),
  attn("window 0", "INVALID_OPTION", "window", qkv, () => ({ window: 0 })),
  attn("causal is a string", "INVALID_OPTION", "causal", qkv, () => ({ causal: "yes" })),
  attn("softcap is negative", "INVALID_OPTION", "softcap", qkv, () => ({ softcap: -1 })),
  attn("kvLength past k", "INVALID_OPTION", "kvLength", qkv, () => ({ kvLength: 6 })),
  attn("ALiBi slopes of the wrong count", "INVALID_OPTION", "alibiSlopes", qkv, () => ({
    alibiSlopes: [1, 2],
  })),
  attn("sinks of the wrong count", "INVALID_OPTION", "sinks", qkv, () => ({ sinks: [0.5] })),
  attn("a NaN sink", "INVALID_OPTION", "sinks[2]", qkv, () => ({ sinks: [0, 1, Number.NaN, 2] })),
  attn("mask that does not broadcast", "INVALID_SHAPE", "mask.shape", qkv, () => ({
    mask: { data: new Uint8Array(8), shape: [1, 1, 2, 4] },
  })),
  attn("mask data of the wrong length", "INVALID_SHAPE", "mask.data", qkv, () => ({
    mask: { data: new Uint8Array(4), shape: [1, 1, 1, 5] },
  })),
  attn("misspelled option", "INVALID_OPTION", "options.casual", qkv, () => ({ casual: true })),
  attn("fused RoPE with bad query positions", "INVALID_POSITIONS", "rope.qPositions", qkv, () => ({
    rope: { rope: spec, qPositions: -3 },
  })),
  attn("fused RoPE misspelled", "INVALID_OPTION", "rope.qPosition", qkv, () => ({
    rope: { rope: spec, qPosition: 2 },
  })),
  // tables and absolute encodings
  hostile(
    ["a RoPE table of 2^30 rows", "TOO_LARGE", "positions.length"],
    () => [],
    (b) => b.ropeTable(spec, { start: 0, length: 2 ** 30 }),
  ),
  hostile(
    ["a sinusoidal table of 2^26 × 4096", "TOO_LARGE", "positions.length"],
    () => [],
    (b) => b.sinusoidal({ start: 0, length: 2 ** 26 }, 4096),
  ),
  hostile(
    ["a sinusoidal table of 2^31 − 1 rows", "TOO_LARGE", "positions.length"],
    () => [],
    (b) => b.sinusoidal({ start: 0, length: 2 ** 31 - 1 }, 64),
  ),
  hostile(
    ["sinusoidal with dim 0", "INVALID_OPTION", "dim"],
    () => [],
    (b) => b.sinusoidal({ start: 0, length: 4 }, 0),
  ),
  hostile(
    ["addSinusoidal with a misspelled option", "INVALID_OPTION", "options.offset"],
    () => [embedding(1, 3, 8), { offset: 2 }] as const,
    (b, [x, o]) => b.addSinusoidal(x, o as unknown as Record<string, never>),
  ),
  hostile(
    ["addLearned past the table", "POSITION_OUT_OF_RANGE", "positions"],
    () => [embedding(1, 3, 8), { data: new Float32Array(16), shape: [2, 8] }] as const,
    (b, [x, table]) => b.addLearned(x, table, { inPlace: true }),
  ),
  norm(["rmsNorm with weight of the wrong length", "INVALID_SHAPE", "weight.shape"], 4, {}),
  norm(["rmsNorm with eps negative", "INVALID_OPTION", "eps"], 8, { eps: -1 }),
  norm(["rmsNorm with weightOffset 2", "INVALID_OPTION", "weightOffset"], 8, { weightOffset: 2 }),
  hostile(
    ["linear with mismatched features", "INVALID_SHAPE", "weight.shape"],
    () =>
      [
        { data: new Float32Array(6), shape: [2, 3] },
        { data: new Float32Array(8), shape: [2, 4] },
      ] as const,
    (b, [x, w]) => b.linear(x, w),
  ),
];
