import { planAddLearned } from "../absolute/learned.js";
import { addSinusoidalRows, planAddSinusoidal, sinusoidalReference } from "../absolute/sinusoidal.js";
import { repairAttentionRows } from "../attention/attention.js";
import {
  type AttentionOptions,
  type AttentionResult,
  fusedRopePositions,
  planAttention,
} from "../attention/plan.js";
import { convertTensor, isHalfDtype, kernelData, tensorDtype } from "../dtype/dtype.js";
import { halfBits, halfValue } from "../dtype/half.js";
import { RopekitError } from "../errors.js";
import { type HeadsTensorLike, interopArgs } from "../interop.js";
import { planLinear } from "../linear/linear.js";
import { planRmsNorm } from "../norm/rms-norm.js";
import { type ApplyRopeOptions, type RopeInput, planApplyRope } from "../rope/apply.js";
import { ropeTable } from "../rope/table.js";
import { RopeTableCache } from "../rope/table-cache.js";
import { type ResidentData, isResidentData } from "../resident.js";
import { headsDims, layoutDims, withResidentData } from "../tensor.js";
import type { Dtype, FloatArray, HeadsTensor, Tensor } from "../types.js";
import type { Backend, BackendDescription, CheckedOps, SyncOps } from "./contract.js";
import type { KernelTensor, Kernels, MaybePromise, RopeKernelPlan, SyncKernels } from "./kernels.js";

/** Runs `f` on a value now, or on a promise's value later: composition that stays sync for sync kernels. */
function then<T, U>(value: MaybePromise<T>, f: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(f) : f(value);
}

/** Every op of the contract with its arguments, planned then run on kernels that may be async. */
type PlannedOps = {
  [Op in keyof CheckedOps]: (...args: Parameters<CheckedOps[Op]>) => MaybePromise<ReturnType<CheckedOps[Op]>>;
};

/** What a backend package supplies to `defineBackend`. */
export interface BackendDefinition {
  readonly name: string;
  /** What it can do and the mode it really runs in; read at every call (keep it cheap). */
  describe(): BackendDescription;
  /** The kernels behind the async ops (may use workers or a GPU). */
  readonly kernels: Kernels;
  /** Kernels that compute on the calling thread; when given, the backend offers `sync` ops. */
  readonly syncKernels?: SyncKernels;
  /** Releases the backend's memory, workers, devices: called once, after every call in flight ended. */
  dispose?(): void;
  /** RoPE tables kept for reuse across calls. Default 32. */
  readonly tableCacheSize?: number;
  /**
   * Rows an f32 attention kernel reports fully masked (lse −∞) are recomputed in f64 too: for kernels
   * without a reliable −∞ (GLSL), so a finfo.min mask is never mistaken for a removed key.
   */
  readonly recheckMaskedRows?: boolean;
  /**
   * Resident data (`ResidentData`) this backend's kernels take as it is: true for data the backend
   * holds. Every other resident data — all of it when this is absent — raises WRONG_BACKEND at planning.
   */
  ownsResident?(data: ResidentData): boolean;
}

/**
 * Makes a `Backend` from kernels (contract v2). Every call is validated and planned here, once — shapes,
 * layouts, dtypes against `describe().dtypes`, positions, tables, options — so errors are raised before
 * any kernel runs and are the same on every backend. Composition lives here too: applyRopeQK is two
 * applyRope kernels planned together; fused RoPE rotates q and k with the applyRope kernel before the
 * attention kernel; an f32 attention kernel's non-finite rows are recomputed in f64. `dispose()` takes
 * effect at once for new calls (DISPOSED) and releases the backend after the calls in flight end.
 *
 * @example
 * ```ts
 * export function createMyBackend(): Backend {
 *   return defineBackend({
 *     name: "my",
 *     kernels: { ...referenceKernels, applyRope: myApplyRope }, // myApplyRope(plan: RopeKernelPlan)
 *     describe: () => ({ name: "my", mode: "my-f32", precision: "f32", dtypes: ["float32"], ops: OP_NAMES,
 *       pairings: ["half", "interleaved"], layouts: ["bshd", "bhsd"], threads: 1 }),
 *   });
 * }
 * ```
 */
export function defineBackend(def: BackendDefinition): Backend {
  const tables = new RopeTableCache(def.tableCacheSize ?? 32);
  // Not cached: a backend's description may change as it runs (gpu.js reports every mode that ran).
  const describe = () => def.describe();
  let disposed = false;
  let inFlight = 0;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    tables.clear();
    def.dispose?.();
  };
  const alive = () => {
    if (disposed) throw new RopekitError("DISPOSED", `backend ${def.name} was disposed`, "backend");
  };

  /**
   * The one dtype check: the tensor's dtype (declared or implied by its array, see `tensorDtype`) must be
   * one the backend declares. Returns the tensor as kernels see it: dtype set, half data as Uint16Array.
   */
  const resolve = <T extends Tensor>(t: T, name: string): KernelTensor<T> => {
    const data: unknown = t.data;
    if (isResidentData(data) && def.ownsResident?.(data) !== true) {
      throw new RopekitError(
        "WRONG_BACKEND",
        `${name} is resident data of backend ${data.residentOn}${data.residentOn === def.name ? " (another instance)" : ""}; backend ${def.name} cannot read it: read() it to a host array, or use the backend that holds it`,
        `${name}.data`,
      );
    }
    const dtype = tensorDtype(t, name);
    const supported = describe().dtypes;
    if (!supported.includes(dtype)) {
      throw new RopekitError(
        "INVALID_DTYPE",
        `${name} is ${dtype} but backend ${def.name} takes ${supported.join(", ")} data`,
        `${name}.data`,
      );
    }
    return { ...t, data: kernelData(t.data, dtype), dtype };
  };
  const f32 = () => describe().precision === "f32";

  // ---- planning: everything a kernel needs, validated ----
  const planRope = (
    x: HeadsTensor,
    rope: RopeInput,
    options: ApplyRopeOptions | undefined,
    name = "x",
  ): RopeKernelPlan => {
    const plan = withResidentData(() => planApplyRope(x, rope, options, name));
    const xr = resolve(x, name);
    const { table, rows } = tables.forPlan(plan);
    return { ...plan, x: xr, table, rows, tableFromCaller: plan.table !== undefined };
  };

  /**
   * Attention's host steps on resident tensors: rows the kernel left to the f64 repair (lse NaN, or −∞
   * when rechecked) and sinks need host values, so q, k, v and the output are read back explicitly,
   * repaired and sunk on the host, and the output written back. Nothing to do: nothing is read.
   */
  const finishResident = (
    plan: { batch: number; qHeads: number; qLen: number; vHeadDim: number; returnLse: boolean },
    sinks: Float64Array | undefined,
    qIn: HeadsTensor,
    kIn: HeadsTensor,
    vIn: HeadsTensor,
    output: HeadsTensor,
    lse: FloatArray,
    options: AttentionOptions,
  ): MaybePromise<AttentionResult> => {
    const recheck = def.recheckMaskedRows === true;
    const repair =
      lse instanceof Float32Array &&
      lse.some((l) => Number.isNaN(l) || (recheck && l === Number.NEGATIVE_INFINITY));
    const done = { output, lse: plan.returnLse ? lse : undefined };
    if (!repair && !sinks) return done;
    const host = (t: HeadsTensor): Promise<HeadsTensor> => {
      const data: unknown = t.data;
      return isResidentData(data) ? data.read().then((d) => ({ ...t, data: d })) : Promise.resolve(t);
    };
    return Promise.all([qIn, kIn, vIn, output].map(host)).then(async ([q, k, v, out]) => {
      const o = out as HeadsTensor;
      if (repair && (o.data instanceof Float32Array || o.data instanceof Uint16Array)) {
        const { sinks: _, ...withoutSinks } = options;
        repairAttentionRows(
          q as HeadsTensor,
          k as HeadsTensor,
          v as HeadsTensor,
          withoutSinks,
          o as HeadsTensor<Float32Array | Uint16Array>,
          lse as Float32Array,
          recheck,
        );
      }
      if (sinks) applySinks(plan, sinks, o, lse);
      const data: unknown = output.data;
      if (isResidentData(data)) await data.write(o.data);
      return done;
    });
  };

  /** The ops, each planning then running `k` (the async or the sync kernels). */
  function ops(k: Kernels): PlannedOps {
    return {
      ropeTable: (spec, positions, options) => ropeTable(spec, positions, options),
      applyRope(x, rope, options) {
        const plan = planRope(x, rope, options);
        return then(k.applyRope(plan), (out) => typed(out, plan.x.dtype));
      },
      applyRopeQK(q, kt, rope, options) {
        withResidentData(() => checkQKPair(q, kt));
        // Both planned before either is written, so a bad k never leaves q half-done in place.
        const pq = planRope(q, rope, options, "q");
        const pk = planRope(kt, rope, options, "k");
        const rq = k.applyRope(pq);
        return then(rq, (qOut) =>
          then(k.applyRope(pk), (kOut) => ({ q: typed(qOut, pq.x.dtype), k: typed(kOut, pk.x.dtype) })),
        );
      },
      sinusoidal(positions, dim, base) {
        const table = sinusoidalReference(positions, dim, base);
        return f32() ? { data: Float32Array.from(table.data), shape: table.shape } : table;
      },
      addSinusoidal(x, options) {
        const plan = withResidentData(() => planAddSinusoidal(x, options));
        const xr = resolve(x, "x");
        const tableDtype = f32() ? "float32" : "float64";
        const { table, rows } = addSinusoidalRows(plan, tableDtype);
        const out = k.addRows({ x: xr, dims: plan.dims, table, tableDtype, rows, inPlace: plan.inPlace });
        return then(out, (o) => typed(o, xr.dtype));
      },
      addLearned(x, table, options) {
        const plan = withResidentData(() => planAddLearned(x, table, options));
        const xr = resolve(x, "x");
        const tr = resolve(table, "table");
        const out = k.addRows({
          x: xr,
          dims: plan.dims,
          table: tr.data,
          tableDtype: tr.dtype,
          rows: plan.rows,
          inPlace: plan.inPlace,
        });
        return then(out, (o) => typed(o, xr.dtype));
      },
      attention(q, kt, v, options = {}) {
        const plan = withResidentData(() => planAttention(q, kt, v, options));
        const qIn = resolve(q, "q");
        const kIn = resolve(kt, "k");
        const vIn = resolve(v, "v");
        // Mixed dtypes are fine (f32 q with bf16 K/V); the output comes in q's unless asked otherwise.
        const outDtype = options.outputDtype ?? qIn.dtype;
        if (!describe().dtypes.includes(outDtype)) {
          throw new RopekitError(
            "INVALID_DTYPE",
            `outputDtype is ${outDtype} but backend ${def.name} takes ${describe().dtypes.join(", ")} data`,
            "outputDtype",
          );
        }
        const { rope, sinks, ...rest } = plan;
        const run = (qr: HeadsTensor, kr: HeadsTensor) =>
          then(
            k.attention({
              ...rest,
              q: withResidentData(() => headsDims(qr, "q")),
              k: withResidentData(() => headsDims(kr, "k")),
              qTensor: resolve(qr, "q"),
              kTensor: resolve(kr, "k"),
              vTensor: vIn,
              outDtype,
            }),
            (result) => {
              const lse = result.lse;
              let output = typed(result.output, outDtype);
              if ([qIn, kIn, vIn, output].some((t) => isResidentData(t.data)))
                return finishResident(plan, sinks, qIn, kIn, vIn, output, lse, options);
              // An explicit outputDtype is what the caller gets, whatever the kernel made (the f64
              // reference answers f32 inputs in f64).
              if (options.outputDtype !== undefined && tensorDtype(output, "output") !== outDtype)
                output = convertTensor(output, outDtype) as HeadsTensor;
              const repairable =
                output.data instanceof Float32Array ||
                (isHalfDtype(outDtype) && output.data instanceof Uint16Array);
              if (repairable && lse instanceof Float32Array) {
                // The kernel computed without sinks; its rows are repaired as such, then sinks applied.
                const { sinks: _, ...withoutSinks } = options;
                repairAttentionRows(
                  qIn,
                  kIn,
                  vIn,
                  withoutSinks,
                  output as HeadsTensor<Float32Array | Uint16Array>,
                  lse,
                  def.recheckMaskedRows === true,
                );
              }
              if (sinks) applySinks(plan, sinks, output, lse);
              return { output, lse: plan.returnLse ? lse : undefined };
            },
          );
        if (!rope) return run(qIn, kIn);
        // Fused RoPE: rotated copies of q and k (the caller's tensors are untouched), then attention.
        const positions = fusedRopePositions(plan);
        const pq = planRope(q, rope.rope, { positions: positions.q }, "q");
        const rq = k.applyRope(pq);
        return then(rq, (qr) => {
          const pk = planRope(kt, rope.rope, { positions: positions.k }, "k");
          // Resident rotated copies are core's temporaries: released once attention is done with them.
          const temporary = (t: HeadsTensor, input: HeadsTensorLike) => () => {
            const data: unknown = t.data;
            if (isResidentData(data) && data !== input.data) data.dispose();
          };
          const rk = always(k.applyRope(pk), undefined, temporary(qr, q));
          return then(rk, (kr) =>
            always(
              run(typed(qr, pq.x.dtype), typed(kr, pk.x.dtype)),
              () => {
                temporary(qr, q)();
                temporary(kr, kt)();
              },
              () => undefined,
            ),
          );
        });
      },
      linear(x, weight, bias) {
        const plan = withResidentData(() => planLinear(x, weight, bias));
        const xr = resolve(x, "x");
        const wr = resolve(weight, "weight");
        const br = bias ? resolve(bias, "bias") : undefined;
        // f16/bf16 weights with f32 activations give f32 outputs: the output follows x.
        const out = k.linear({ ...plan, x: xr, weight: wr, bias: br, outDtype: xr.dtype });
        return then(out, (o) => typed(o, xr.dtype));
      },
      rmsNorm(x, weight, options) {
        const plan = withResidentData(() => planRmsNorm(x, weight, options));
        const xr = resolve(x, "x");
        const wr = weight ? resolve(weight, "weight") : undefined;
        // A head tensor stays a head tensor: the output keeps x's layout.
        return then(k.rmsNorm({ ...plan, x: xr, weight: wr }), (out) =>
          typed(x.layout ? { ...out, layout: x.layout } : out, xr.dtype),
        );
      },
    };
  }

  // Each async op: refused after dispose, counted while in flight, deferred so a throw becomes a rejection.
  const call =
    (f: (...args: never[]) => unknown) =>
    (...args: never[]): Promise<unknown> => {
      try {
        alive();
      } catch (error) {
        return Promise.reject(error);
      }
      inFlight++;
      return Promise.resolve()
        .then(() => f(...args))
        .finally(() => {
          inFlight--;
          if (disposed && inFlight === 0) release();
        });
    };
  // Sync kernels return values, so every op composed from them does too.
  const guardSync =
    (f: (...args: never[]) => unknown) =>
    (...args: never[]): unknown => {
      alive();
      return f(...args);
    };
  // Tensors from other libraries ({ data, dims }: onnxruntime, transformers.js) are read before planning.
  const wrapEach = (o: ReturnType<typeof ops>, wrap: typeof call | typeof guardSync) =>
    Object.fromEntries(
      Object.entries(o).map(([op, f]) => [
        op,
        wrap((...args: never[]) => (f as (...a: unknown[]) => unknown)(...interopArgs(op, args))),
      ]),
    );
  // The op signatures come from `ops()`, whose parameters are the contract's; the wrappers keep them.
  type AsyncOps = Omit<Backend, "name" | "describe" | "sync" | "dispose">;
  const syncOps = def.syncKernels
    ? (wrapEach(ops(def.syncKernels), guardSync) as unknown as SyncOps)
    : undefined;

  return {
    name: def.name,
    describe,
    ...(wrapEach(ops(def.kernels), call) as unknown as AsyncOps),
    ...(syncOps ? { sync: syncOps } : {}),
    dispose() {
      if (disposed) return;
      disposed = true;
      if (inFlight === 0) release();
    },
  };
}

/**
 * Runs `settled` once `value` settles, either way, and `failed` too if it failed (for a sync value:
 * `settled` now): the release of temporaries, kept sync for sync kernels.
 */
function always<T>(
  value: MaybePromise<T>,
  settled: (() => void) | undefined,
  failed: () => void,
): MaybePromise<T> {
  if (!(value instanceof Promise)) {
    settled?.();
    return value;
  }
  return value.then(
    (v) => {
      settled?.();
      return v;
    },
    (error: unknown) => {
      settled?.();
      failed();
      throw error;
    },
  );
}

/**
 * A kernel's output as users get it: half data carries its dtype (a Uint16Array says nothing by itself);
 * float outputs are returned as the kernel made them.
 */
function typed<T extends Tensor>(out: T, dtype: Dtype): T {
  return isHalfDtype(dtype) && out.dtype !== dtype ? { ...out, dtype } : out;
}

/**
 * Attention sinks from the kernel's sink-free result: with a sink logit σ for the row's head, the softmax
 * over [scores, σ] is the sink-free one times 1 / (1 + e^(σ − lse)); the new lse is logaddexp(lse, σ).
 * Exact, per row, so no kernel needs to know about sinks.
 */
function applySinks(
  plan: { batch: number; qHeads: number; qLen: number; vHeadDim: number },
  sinks: Float64Array,
  output: HeadsTensor,
  lse: FloatArray,
): void {
  const { batch, qHeads, qLen, vHeadDim } = plan;
  const out = layoutDims(output.layout, batch, qLen, qHeads, vHeadDim);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const sink = sinks[h] as number;
      for (let i = 0; i < qLen; i++) {
        const r = (b * qHeads + h) * qLen + i;
        const l = lse[r] as number;
        if (Number.isNaN(l)) continue; // a NaN row stays NaN
        const m = Math.max(l, sink);
        const total = m + Math.log(Math.exp(l - m) + Math.exp(sink - m));
        lse[r] = total;
        if (l === Number.NEGATIVE_INFINITY) continue; // no key: zeros stay zeros
        const f = Math.exp(l - total);
        const o = b * out.strideBatch + i * out.strideSeq + h * out.strideHead;
        const half = output.dtype !== undefined && isHalfDtype(output.dtype) ? output.dtype : undefined;
        for (let d = 0; d < vHeadDim; d++) {
          const value = output.data[o + d] as number;
          output.data[o + d] = half ? halfBits(halfValue(value, half) * f, half) : value * f;
        }
      }
    }
  }
}

/** q and k rotated together must agree on batch and sequence length (they share positions). */
export function checkQKPair(q: HeadsTensor, k: HeadsTensor): void {
  const qd = headsDims(q, "q");
  const kd = headsDims(k, "k");
  if (qd.batch !== kd.batch || qd.seq !== kd.seq) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `q and k share positions, so batch and seq must match: q has [${qd.batch}, ${qd.seq}], k has [${kd.batch}, ${kd.seq}]`,
      "k.shape",
    );
  }
}
