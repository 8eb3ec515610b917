/**
 * Tensors from other libraries, read by their fields alone: onnxruntime-common's `Tensor` and
 * transformers.js's `Tensor` both carry `{ type, data, dims }`, and a plain `{ data, dims }` is accepted
 * too. Nothing here imports those libraries; `toOrtTensor` takes the caller's constructor.
 */
import { RopekitError, describeValue } from "./errors.js";
import { requireHostData } from "./resident.js";
import type { HeadsTensor, Layout, Tensor } from "./types.js";

/**
 * A tensor described by `dims` instead of `shape`: an onnxruntime-common or transformers.js `Tensor`, or a
 * plain `{ data, dims }`. `type` ("float32", "float16", "bfloat16", "float64"), when present, says how
 * `data` is stored (float16 / bfloat16 data is a Uint16Array of bits). Rank-4 head tensors need a layout:
 * their own `layout`, or the op's `layout` option.
 */
export interface DimsTensor {
  /** The elements, row-major (checked at run time: a float array, or Uint16Array bits for halves). */
  readonly data: unknown;
  /** The shape. */
  readonly dims: readonly number[];
  /** The element type as onnxruntime and transformers.js name it. */
  readonly type?: string;
  /** For head tensors: how the four dims are ordered. */
  readonly layout?: Layout;
}

/** Anything an op accepts where it takes a tensor: ropekit's own `{ data, shape }`, or a `DimsTensor`. */
export type TensorLike = Tensor | DimsTensor;

/**
 * Anything an op accepts where it takes a head tensor: a `HeadsTensor`, a `Tensor` with a rank-4 shape
 * (checked at run time), or a `DimsTensor` (layout from the tensor or the op's `layout` option).
 */
export type HeadsTensorLike =
  | HeadsTensor
  | (Omit<Tensor, "layout"> & { readonly layout?: Layout | undefined })
  | DimsTensor;

/**
 * The option the head-tensor ops (applyRope, applyRopeQK, attention) take beside their own: the layout of
 * head tensors that carry none (onnxruntime and transformers.js tensors have only `dims`).
 */
export interface InteropOptions {
  /** "bshd" when the dims are [batch, seq, heads, headDim], "bhsd" for [batch, heads, seq, headDim]. */
  layout?: Layout;
}

/** The element types a `DimsTensor`'s `type` may name, as ropekit's `dtype`. */
const TYPES: Readonly<Record<string, string>> = {
  float32: "float32",
  float64: "float64",
  float16: "float16",
  bfloat16: "bfloat16",
};

/** True when `x` is described by `dims` (and not by ropekit's `shape`). */
export function isDimsTensor(x: unknown): x is DimsTensor {
  return x !== null && typeof x === "object" && !("shape" in x) && "dims" in x;
}

/**
 * `x` as a ropekit tensor: a `DimsTensor` becomes `{ data, shape: dims, dtype?, layout? }` (the layout
 * its own, else `layout`); a ropekit tensor without a layout gets `layout` when one is given. Anything
 * else is returned as it is, for the op's own checks to name what is wrong. A tensor with neither
 * `shape` nor `dims` raises INVALID_SHAPE saying so.
 */
export function fromTensorLike(x: unknown, name: string, layout?: Layout, heads = false): unknown {
  if (x === null || typeof x !== "object") return x;
  if (!isDimsTensor(x)) {
    if (!("shape" in x) && "data" in x) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `${name} has no shape: give { data, shape } or, as onnxruntime and transformers.js tensors do, { data, dims }`,
        `${name}.shape`,
      );
    }
    const own = (x as { layout?: unknown }).layout;
    if (layout !== undefined && own === undefined) {
      // Fields read one by one: a class tensor's data may be a getter, which a spread would drop.
      const t = x as Tensor;
      return { data: t.data, shape: t.shape, layout, ...(t.dtype !== undefined ? { dtype: t.dtype } : {}) };
    }
    if (layout !== undefined && own !== layout) {
      throw new RopekitError(
        "INVALID_LAYOUT",
        `${name}.layout is ${describeValue(own)} but options.layout says ${JSON.stringify(layout)}`,
        `${name}.layout`,
      );
    }
    return x;
  }
  const { data, dims, type } = x;
  if (!Array.isArray(dims)) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `${name}.dims must be an array of dimensions, got ${describeValue(dims)}`,
      `${name}.dims`,
    );
  }
  let dtype: string | undefined;
  if (type !== undefined) {
    dtype = TYPES[type];
    if (dtype === undefined) {
      throw new RopekitError(
        "INVALID_DTYPE",
        `${name}.type is ${describeValue(type)}; ropekit computes on ${Object.keys(TYPES).join(", ")} tensors (convert it first)`,
        `${name}.type`,
      );
    }
  }
  const own = x.layout;
  if (own !== undefined && layout !== undefined && own !== layout) {
    throw new RopekitError(
      "INVALID_LAYOUT",
      `${name}.layout is ${describeValue(own)} but options.layout says ${JSON.stringify(layout)}`,
      `${name}.layout`,
    );
  }
  const chosen = own ?? layout;
  if (heads && chosen === undefined) {
    throw new RopekitError(
      "INVALID_LAYOUT",
      `${name} is a { data, dims } tensor (onnxruntime / transformers.js) without a layout: pass options.layout, "bshd" for [batch, seq, heads, headDim] dims or "bhsd" for [batch, heads, seq, headDim]`,
      `${name}.layout`,
    );
  }
  // Only the half types need a dtype beside the array (a Uint16Array could hold either); float arrays say it.
  const half = dtype === "float16" || dtype === "bfloat16";
  return {
    data,
    shape: [...dims],
    ...(chosen !== undefined ? { layout: chosen } : {}),
    ...(half ? { dtype } : {}),
  };
}

/** The `layout` option of an op that takes head tensors, checked; undefined when absent. */
function layoutOption(options: unknown): Layout | undefined {
  if (options === null || typeof options !== "object" || !("layout" in options)) return undefined;
  const layout = (options as { layout?: unknown }).layout;
  if (layout !== "bshd" && layout !== "bhsd") {
    throw new RopekitError(
      "INVALID_LAYOUT",
      `options.layout must be "bshd" or "bhsd", got ${describeValue(layout)}`,
      "options.layout",
    );
  }
  return layout;
}

/** `options` without its `layout` (which `interopArgs` has applied to the tensors). */
function withoutLayout(options: unknown): unknown {
  if (options === null || typeof options !== "object" || !("layout" in options)) return options;
  const { layout: _, ...rest } = options as Record<string, unknown>;
  return rest;
}

/** An attention mask given as `{ data, dims }` becomes `{ data, shape }`; the plan checks the rest. */
function attentionOptions(options: unknown): unknown {
  const rest = withoutLayout(options);
  if (rest === null || typeof rest !== "object") return rest;
  const mask = (rest as { mask?: unknown }).mask;
  if (!isDimsTensor(mask)) return rest;
  return { ...rest, mask: { data: mask.data, shape: [...mask.dims] } };
}

/**
 * Each op's tensor arguments, by position, and for the head-tensor ops (whose tensors all take the
 * `layout` option) where that option is. Optional tensors (a bias, a norm weight) pass through undefined.
 */
const TENSOR_ARGS: Readonly<Record<string, { tensors: readonly string[]; options?: number }>> = {
  applyRope: { tensors: ["x"], options: 2 },
  applyRopeQK: { tensors: ["q", "k"], options: 3 },
  attention: { tensors: ["q", "k", "v"], options: 3 },
  addSinusoidal: { tensors: ["x"] },
  addLearned: { tensors: ["x", "table"] },
  linear: { tensors: ["x", "weight", "bias"] },
  rmsNorm: { tensors: ["x", "weight"] },
};

/**
 * The arguments of a backend op with every tensor argument read through `fromTensorLike`, and the
 * `layout` option of the head-tensor ops (applyRope, applyRopeQK, attention) applied to the head tensors
 * that carry no layout of their own, then removed. `defineBackend` calls it before planning, so every
 * backend accepts the same tensors.
 */
export function interopArgs(op: string, args: readonly unknown[]): unknown[] {
  const a = [...args];
  const spec = TENSOR_ARGS[op];
  if (!spec) return a;
  const { tensors, options } = spec;
  const heads = options !== undefined;
  const layout = heads ? layoutOption(a[options]) : undefined;
  for (const [i, name] of tensors.entries()) a[i] = fromTensorLike(a[i], name, layout, heads);
  if (heads && a.length > options)
    a[options] = op === "attention" ? attentionOptions(a[options]) : withoutLayout(a[options]);
  return a;
}

/** The onnxruntime / transformers.js element type of a ropekit tensor's data. */
function typeOf(t: Tensor, name: string): "float32" | "float64" | "float16" | "bfloat16" {
  requireHostData(t.data, `${name}.data`);
  const dtype = (t as { dtype?: unknown }).dtype;
  if (dtype === "float16" || dtype === "bfloat16") return dtype;
  if (t.data instanceof Float32Array) return "float32";
  if (t.data instanceof Float64Array) return "float64";
  throw new RopekitError(
    "INVALID_DTYPE",
    `${name}.data must be a Float32Array or Float64Array (or half bits with a dtype), got ${describeValue(t.data)}`,
    `${name}.data`,
  );
}

/**
 * A ropekit result as `{ data, dims, type }` — the fields onnxruntime-common and transformers.js tensors
 * have (the data is shared, not copied). `layout` is kept for head tensors.
 */
export function toDimsTensor(result: Tensor): {
  data: Tensor["data"];
  dims: number[];
  type: "float32" | "float64" | "float16" | "bfloat16";
  layout?: Layout;
} {
  const type = typeOf(result, "result");
  return {
    data: result.data,
    dims: [...result.shape],
    type,
    ...(result.layout !== undefined ? { layout: result.layout } : {}),
  };
}

/**
 * The constructor `toOrtTensor` calls: onnxruntime-common's `Tensor` (from onnxruntime-node,
 * onnxruntime-web or onnxruntime-common itself), as `new Tensor(type, data, dims)`.
 */
export type OrtTensorConstructor<R> = new (
  type: "float32" | "float64" | "float16",
  data: Float32Array | Float64Array | Uint16Array,
  dims: readonly number[],
) => R;

/**
 * A ropekit result as an onnxruntime `Tensor`, made with the constructor you pass (so ropekit needs no
 * onnxruntime dependency): `toOrtTensor(output, ort.Tensor)`. The data is shared, not copied; float16
 * results stay Uint16Array bits, as onnxruntime stores them. onnxruntime has no bfloat16 tensors:
 * convert those to float32 first (INVALID_DTYPE otherwise).
 */
export function toOrtTensor<R>(result: Tensor, TensorClass: OrtTensorConstructor<R>): R {
  const type = typeOf(result, "result");
  if (type === "bfloat16") {
    throw new RopekitError(
      "INVALID_DTYPE",
      "onnxruntime has no bfloat16 tensors: convert the result to float32 first",
      "result.dtype",
    );
  }
  return new TensorClass(type, result.data as Float32Array | Float64Array | Uint16Array, [...result.shape]);
}
