import {
  type AddLearnedOptions,
  type AddSinusoidalOptions,
  type AttentionCallOptions,
  type AttentionResult,
  type Backend,
  type FloatArray,
  type HeadsTensorLike,
  type Layout,
  type RmsNormOptions,
  type RopeCallOptions,
  type RopeInput,
  RopekitError,
  type Tensor,
  type TensorLike,
  describeValue,
  residentTensorElements,
} from "@ropekit/core";
import type { GpuContext } from "./context.js";
import { GpuResident, type Residents, type WebgpuDtype, type WebgpuStats, webgpuDtype } from "./residents.js";
import { WebgpuTensor } from "./tensor.js";

/**
 * What `WebgpuBackend.tensor()` makes a resident tensor from: a shape, optionally a layout (head tensors)
 * and data — a Float32Array, or a Uint16Array of float16 / bfloat16 bits with `dtype` — or, without
 * data, zeros of `dtype` (default "float32").
 */
export interface WebgpuTensorInit<D extends WebgpuDtype = WebgpuDtype> {
  /** The values to upload; omitted: zeros. */
  readonly data?: Float32Array | Uint16Array;
  /** The shape, as for a host tensor (rank 4 for head tensors, in the layout's order). */
  readonly shape: readonly number[];
  /** "bshd" or "bhsd" for head tensors. */
  readonly layout?: Layout;
  /** Required with Uint16Array data ("float16" or "bfloat16"); default "float32". */
  readonly dtype?: D;
}

/** A resident tensor, or the tensors an op takes. */
type Maybe<T> = WebgpuTensor | T;

/**
 * The ops of the webgpu backend with resident tensors: wherever an op takes a tensor it takes a
 * `WebgpuTensor` too, and an op whose main input (x; q for attention) is a `WebgpuTensor` returns one.
 * (Host signatures first: they resolve host calls as before.)
 */
export interface WebgpuResidentOps {
  /** applyRope on a resident tensor: the result stays on the GPU (in place: the same tensor). */
  applyRope: Backend["applyRope"] &
    ((x: WebgpuTensor, rope: RopeInput, options?: RopeCallOptions) => Promise<WebgpuTensor>);
  /** applyRopeQK on resident q and k. */
  applyRopeQK: Backend["applyRopeQK"] &
    ((
      q: WebgpuTensor,
      k: WebgpuTensor,
      rope: RopeInput,
      options?: RopeCallOptions,
    ) => Promise<{ q: WebgpuTensor; k: WebgpuTensor }>);
  /** attention on resident q (k and v resident or host): the output stays on the GPU; a host q with resident k/v gives a host output. */
  attention: Backend["attention"] &
    ((
      q: WebgpuTensor,
      k: Maybe<HeadsTensorLike>,
      v: Maybe<HeadsTensorLike>,
      options?: AttentionCallOptions,
    ) => Promise<{ output: WebgpuTensor; lse?: FloatArray | undefined }>) &
    ((
      q: HeadsTensorLike,
      k: Maybe<HeadsTensorLike>,
      v: Maybe<HeadsTensorLike>,
      options?: AttentionCallOptions,
    ) => Promise<AttentionResult>);
  /** linear on a resident x (weight and bias resident or host). */
  linear: Backend["linear"] &
    ((x: WebgpuTensor, weight: Maybe<TensorLike>, bias?: Maybe<TensorLike>) => Promise<WebgpuTensor>) &
    ((x: TensorLike, weight: Maybe<TensorLike>, bias?: Maybe<TensorLike>) => Promise<Tensor>);
  /** rmsNorm on a resident x. */
  rmsNorm: Backend["rmsNorm"] &
    ((x: WebgpuTensor, weight?: Maybe<TensorLike>, options?: RmsNormOptions) => Promise<WebgpuTensor>);
  /** addSinusoidal on a resident x. */
  addSinusoidal: Backend["addSinusoidal"] &
    ((x: WebgpuTensor, options?: AddSinusoidalOptions) => Promise<WebgpuTensor>);
  /** addLearned on a resident x (the table resident or host). */
  addLearned: Backend["addLearned"] &
    ((x: WebgpuTensor, table: Maybe<TensorLike>, options?: AddLearnedOptions) => Promise<WebgpuTensor>);
  /**
   * Uploads a tensor once into a GPU buffer of this backend (see `WebgpuTensor`). INVALID_SHAPE,
   * INVALID_LAYOUT, INVALID_DTYPE for bad input, TOO_LARGE past the adapter's binding limit,
   * OUT_OF_MEMORY when the GPU has no room, DISPOSED after `dispose()`.
   *
   * @example
   * ```ts
   * const backend = await createWebgpuBackend();
   * const q = await backend.tensor({ data: qData, shape: [1, 128, 32, 64], layout: "bshd" });
   * const k = await backend.tensor({ data: kData, shape: [1, 128, 8, 64], layout: "bshd" });
   * const v = await backend.tensor({ data: vData, shape: [1, 128, 8, 64], layout: "bshd" });
   * const r = await backend.applyRopeQK(q, k, spec, { positions: 0, inPlace: true }); // still on the GPU
   * const { output } = await backend.attention(r.q, r.k, v, { causal: true }); // a WebgpuTensor
   * const y = await backend.linear(output, { data: wo, shape: [4096, 2048] }); // a WebgpuTensor
   * const values = await y.read(); // the one readback
   * backend.dispose(); // releases every resident buffer
   * ```
   */
  tensor<D extends WebgpuDtype = "float32">(init: WebgpuTensorInit<D>): Promise<WebgpuTensor<D>>;
  /** Readbacks and pooled buffers so far (a snapshot): what a chain on resident tensors should keep small. */
  readonly stats: Readonly<WebgpuStats>;
}

/** The tensor parameters of each op, by position (for DISPOSED messages). */
const TENSOR_ARGS: Readonly<Record<string, readonly string[]>> = {
  applyRope: ["x"],
  applyRopeQK: ["q", "k"],
  attention: ["q", "k", "v"],
  linear: ["x", "weight", "bias"],
  rmsNorm: ["x", "weight"],
  addSinusoidal: ["x"],
  addLearned: ["x", "table"],
};

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/**
 * Adds resident tensors to a webgpu backend made by `defineBackend` with `residentKernels`: `tensor()`,
 * `stats`, and ops that hold the resident tensors they were given until they end (so disposing one
 * mid-call is safe), raise DISPOSED for disposed ones, and hand resident outputs back as `WebgpuTensor`s.
 */
export function withResidents<B extends Backend>(
  backend: B,
  ctx: GpuContext,
  residents: Residents,
): Omit<B, keyof WebgpuResidentOps> & WebgpuResidentOps {
  let closed = false;

  const tensorOf = (t: { data: GpuResident; shape: readonly number[]; layout?: Layout }): WebgpuTensor => {
    const data = t.data;
    const own = data.tensor;
    if (own && sameShape(own.shape, t.shape) && own.layout === t.layout) return own;
    const made = new WebgpuTensor(data, [...t.shape], t.layout);
    data.tensor ??= made;
    return made;
  };
  const adopt = (value: unknown): unknown => {
    if (value === null || typeof value !== "object") return value;
    const v = value as Record<string, unknown>;
    if (v["data"] instanceof GpuResident) return tensorOf(v as unknown as Parameters<typeof tensorOf>[0]);
    if ("output" in v) return { ...v, output: adopt(v["output"]) };
    if ("q" in v && "k" in v) return { q: adopt(v["q"]), k: adopt(v["k"]) };
    return value;
  };

  const ops: Record<string, unknown> = {};
  for (const [op, names] of Object.entries(TENSOR_ARGS)) {
    const run = (backend as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[op];
    if (!run) continue;
    ops[op] = async (...args: unknown[]) => {
      const held: GpuResident[] = [];
      names.forEach((name, i) => {
        const data = (args[i] as { data?: unknown } | null | undefined)?.data;
        if (!(data instanceof GpuResident)) return;
        if (data.disposed) throw new RopekitError("DISPOSED", `${name} is a disposed webgpu tensor`, name);
        // Another instance's tensor (refused: WRONG_BACKEND) is held by its own store (see `retain`).
        held.push(data);
      });
      const releases = held.map((data) => residents.retain(data));
      try {
        return adopt(await run(...args));
      } finally {
        for (const release of releases) release();
      }
    };
  }

  async function tensor(init: WebgpuTensorInit): Promise<WebgpuTensor> {
    if (closed) throw new RopekitError("DISPOSED", "backend webgpu was disposed", "backend");
    if (init === null || typeof init !== "object") {
      throw new RopekitError(
        "INVALID_SHAPE",
        `tensor() takes { data, shape, layout }, got ${describeValue(init)}`,
        "init",
      );
    }
    const { shape, layout, data } = init;
    const length = residentTensorElements(shape, layout);
    let dtype: WebgpuDtype;
    if (data === undefined) {
      const d = webgpuDtype(init.dtype ?? "float32");
      if (!d) {
        throw new RopekitError(
          "INVALID_DTYPE",
          `dtype must be "float32", "float16" or "bfloat16", got ${describeValue(init.dtype)}`,
          "dtype",
        );
      }
      dtype = d;
    } else {
      const declared = init.dtype;
      const d =
        data instanceof Float32Array && (declared === undefined || declared === "float32")
          ? "float32"
          : data instanceof Uint16Array && (declared === "float16" || declared === "bfloat16")
            ? declared
            : undefined;
      if (!d) {
        throw new RopekitError(
          "INVALID_DTYPE",
          `webgpu tensors take a Float32Array, or a Uint16Array of bits with dtype "float16" or "bfloat16"; got ${describeValue(data)} with dtype ${describeValue(declared)}`,
          "data",
        );
      }
      if (data.length !== length) {
        throw new RopekitError(
          "INVALID_SHAPE",
          `data has ${data.length} elements but shape [${shape.join(", ")}] needs ${length}`,
          "data",
        );
      }
      dtype = d;
    }
    const resident = await residents.make(dtype, length, data);
    return tensorOf({ data: resident, shape, ...(layout ? { layout } : {}) });
  }

  const dispose = backend.dispose;
  const extended = Object.assign(backend, ops, {
    tensor,
    dispose() {
      closed = true;
      dispose();
    },
  });
  const stats = (): WebgpuStats => ({
    ...ctx.stats,
    buffersReused: ctx.pool.counts.reused,
    buffersCreated: ctx.pool.counts.created,
  });
  Object.defineProperty(extended, "stats", { get: stats, enumerable: true });
  return extended as unknown as Omit<B, keyof WebgpuResidentOps> & WebgpuResidentOps;
}
