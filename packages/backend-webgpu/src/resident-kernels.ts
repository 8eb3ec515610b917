/// <reference types="@webgpu/types" preserve="true" />
import {
  type AttentionKernelPlan,
  type AttentionKernelResult,
  type Dtype,
  type EmbeddingTensor,
  type HeadsTensor,
  type Kernels,
  type LinearKernelPlan,
  type RmsNormKernelPlan,
  type RopeKernelPlan,
  type Tensor,
  type TensorData,
  layoutDims,
} from "@ropekit/core";
import { type GpuContext, type Job, type Kernel, packParams } from "./context.js";
import { NORM_LIMIT, V_LIMIT, finishLse, prepareAttention } from "./kernels/attention-guard.js";
import { type AttentionTuning, type JobGeometry, runJob, strides } from "./kernels/attention.js";
import { LINEAR_FIELDS, LINEAR_TILE, linearInterface, linearWgsl } from "./kernels/linear.js";
import {
  type HalfPasses,
  dtypeKey,
  halfPasses,
  isHalf,
  recordDecode,
  recordEncode,
} from "./kernels/half-wgsl.js";
import { HUGE, RMS_NORM_FIELDS, rmsNormInterface, rmsNormWgsl } from "./kernels/rms-norm.js";
import { recordRope, ropeKernel } from "./kernels/rope.js";
import { measureKernel, measureValues, recordMeasure } from "./resident-measure.js";
import { GpuResident, type Residents, bufferSize, webgpuDtype } from "./residents.js";

/** Nothing: what rope segments carry as data when the rows are on the GPU already. */
const NO_DATA = new Float32Array(0);

/** A tensor whose data a kernel returns as resident (core passes it on; the backend wraps it). */
function residentTensor<T extends Tensor>(
  data: GpuResident,
  shape: readonly number[],
  layout?: T["layout"],
): T {
  return (layout === undefined
    ? { data, shape: [...shape] }
    : { data, shape: [...shape], layout }) as unknown as T;
}

/**
 * The kernels of a webgpu backend with resident tensors: each op whose tensors include resident data
 * (a `WebgpuTensor`'s `GpuResident`) binds its buffer instead of uploading, and returns its output
 * resident when its main input (x, or q for attention) is — else the output is read back, as a host call
 * would (resident weights or a resident KV cache with host activations). On the GPU without any tensor
 * readback:
 * - applyRope (f32 in the tensor's own buffer; halves decoded, rotated and rounded back on the GPU);
 * - linear with x, weight and bias of any dtype (host ones uploaded), the output in x's dtype;
 * - attention with f32 q and output, k and v of any dtype: a measure pass reads back 4 bytes per head row
 *   of q, k and v (norms, maxima) so the f32 guard knows which rows to leave to core's f64 repair, and
 *   the kernel reads back its lse (4 bytes per query row) for core's checks; inputs with NaN, ±∞ or huge
 *   values are read back explicitly (the guard zeroes rows of the GPU's copies).
 * - rmsNorm on x of any dtype: a measure pass reads back 4 bytes per row; rows the host kernel computes in
 *   f64 (NaN, ±∞, all zeros, values ≥ 2^126) send the call to the host path.
 * Everything else — half q in attention, outputs past one binding, addRows (its CPU gather needs the
 * rows) — reads the resident inputs back, runs the host kernel, and stores the output resident:
 * correct, counted in `stats.tensorReads`, and slower.
 */
export function residentKernels(
  ctx: GpuContext,
  residents: Residents,
  host: Kernels,
  tuning: AttentionTuning,
): Kernels {
  const resident = (data: unknown): data is GpuResident => data instanceof GpuResident;
  const max = () => ctx.maxBindingElements;

  /** The tensor with host data: resident data read back (explicitly, counted). */
  const toHost = async <T extends { readonly data: TensorData }>(t: T): Promise<T> => {
    const data: unknown = t.data;
    return resident(data) ? { ...t, data: await data.read() } : t;
  };

  /** The output of a host-input call read back (the one readback the host path makes too) and released. */
  const hostOutput = async (out: GpuResident): Promise<TensorData> => {
    try {
      return await out.read();
    } finally {
      out.dispose();
    }
  };

  /** A host output stored resident: into `into` (in place), else into a new buffer of `dtype`. */
  const store = async (data: TensorData, dtype: Dtype, into?: GpuResident): Promise<GpuResident> => {
    if (into) {
      await into.write(data);
      return into;
    }
    return residents.make(webgpuDtype(dtype) ?? "float32", data.length, data);
  };

  /**
   * A buffer for `data` in `job`: a resident one as it is; host data uploaded — half bits packed, float
   * data rounded to f32.
   */
  const bind = (job: Job, data: unknown, what: string): GPUBuffer => {
    if (resident(data)) return data.buffer;
    if (data instanceof Uint16Array) return job.upload(data, what);
    const values = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    return job.upload(values, what);
  };

  /** The dtype a kernel reads `data` of `dtype` as: halves as they are, float64 (host only) as f32. */
  const gpuDtype = (dtype: Dtype) => (isHalf(dtype) ? dtype : "float32");

  const f32 = (dtype: Dtype, data: unknown) =>
    dtype === "float32" || (dtype === "float64" && !resident(data));

  /**
   * Records the store of `count` f32 values of `f32Out` into `out`: copied for f32, encoded to half bits
   * (ties to even, on the GPU) first for halves.
   */
  const storeRecorded = (
    job: Job,
    passes: HalfPasses | undefined,
    f32Out: GPUBuffer,
    out: GpuResident,
    count: number,
  ) => {
    const src = passes ? recordEncode(job, passes, f32Out, count) : f32Out;
    if (src !== out.buffer) job.encoder.copyBufferToBuffer(src, 0, out.buffer, 0, bufferSize(out.bytes));
  };

  async function applyRope(plan: RopeKernelPlan): Promise<HeadsTensor> {
    const x = plan.x.data as unknown;
    if (!resident(x)) return host.applyRope(plan);
    const shape = plan.x.shape;
    if (x.length > max()) {
      const out = await host.applyRope({ ...plan, x: await toHost(plan.x), inPlace: false });
      const data = await store(out.data, plan.x.dtype, plan.inPlace ? x : undefined);
      return residentTensor<HeadsTensor>(data, shape, plan.x.layout);
    }
    const kernel = await ropeKernel(ctx);
    const passes = isHalf(x.dtype) ? await halfPasses(ctx, x.dtype) : undefined;
    const out = plan.inPlace ? x : await residents.make(x.dtype, x.length);
    try {
      await ctx.run((job) => {
        const item = { plan, data: NO_DATA, table: plan.table, rows: plan.rows };
        const segment = { item, base: 0, r0: 0, r1: x.length / plan.dims.headDim };
        if (passes) {
          // Halves: decoded to f32, rotated, rounded back into the output's buffer.
          const f = recordDecode(job, passes, x.buffer, x.length);
          recordRope(job, kernel, f, [segment]);
          storeRecorded(job, passes, f, out, x.length);
          return;
        }
        if (out !== x) job.encoder.copyBufferToBuffer(x.buffer, 0, out.buffer, 0, bufferSize(x.bytes));
        recordRope(job, kernel, out.buffer, [segment]);
      });
    } catch (error) {
      if (out !== x) out.dispose();
      throw error;
    }
    return residentTensor<HeadsTensor>(out, shape, plan.x.layout);
  }

  async function linear(plan: LinearKernelPlan): Promise<Tensor> {
    const { x, weight, bias, rows, inFeatures, outFeatures } = plan;
    const xData = x.data as unknown;
    const any = [xData, weight.data, bias?.data].some(resident);
    if (!any) return host.linear(plan);
    // Any resident input runs here (resident weights with host x: the weights uploaded once).
    const native = x.data.length <= max() && weight.data.length <= max() && rows * outFeatures <= max();
    if (!native) {
      const out = await host.linear({
        ...plan,
        x: await toHost(x),
        weight: await toHost(weight),
        bias: bias ? await toHost(bias) : undefined,
      });
      if (!resident(xData)) return out;
      return residentTensor(await store(out.data, plan.outDtype), plan.outShape);
    }
    const d = {
      x: gpuDtype(x.dtype),
      w: gpuDtype(weight.dtype),
      bias: bias ? gpuDtype(bias.dtype) : "float32",
    } as const;
    // The same cache keys as the host path's kernels (kernels/linear.ts).
    const key = [d.x, d.w, d.bias].some(isHalf)
      ? `linear:${dtypeKey(d.x)}:${dtypeKey(d.w)}:${dtypeKey(d.bias)}`
      : "linear";
    const kernel = await ctx.kernel(key, () => linearWgsl(d), linearInterface(d).bindings);
    const outDtype = gpuDtype(plan.outDtype);
    const passes = isHalf(outDtype) ? await halfPasses(ctx, outDtype) : undefined;
    const out = await residents.make(outDtype, rows * outFeatures);
    const colTiles = Math.ceil(outFeatures / LINEAR_TILE);
    try {
      await ctx.run((job) => {
        const xb = bind(job, xData, "x");
        const wb = bind(job, weight.data, "weight");
        const bb = bias ? bind(job, bias.data, "bias") : job.upload(new Float32Array(1), "bias");
        const params = job.uniform(
          packParams(LINEAR_FIELDS, {
            rows,
            inF: inFeatures,
            outF: outFeatures,
            hasBias: bias ? 1 : 0,
            colTiles,
          }),
        );
        const y = passes ? job.scratch(rows * outFeatures, "y") : out.buffer;
        job.dispatch(kernel, [xb, wb, bb, y, params], Math.ceil(rows / LINEAR_TILE) * colTiles);
        storeRecorded(job, passes, y, out, rows * outFeatures);
      });
    } catch (error) {
      out.dispose();
      throw error;
    }
    return resident(xData)
      ? residentTensor(out, plan.outShape)
      : { data: await hostOutput(out), shape: [...plan.outShape] };
  }

  /** Attention through the host kernel on read-back inputs; the output stored resident when q is. */
  async function attentionOnHost(plan: AttentionKernelPlan): Promise<AttentionKernelResult> {
    const q = plan.qTensor.data as unknown;
    const result = await host.attention({
      ...plan,
      qTensor: await toHost(plan.qTensor),
      kTensor: await toHost(plan.kTensor),
      vTensor: await toHost(plan.vTensor),
    });
    if (!resident(q)) return result;
    const output = await store(result.output.data, plan.outDtype);
    const shape = result.output.shape;
    return { output: residentTensor<HeadsTensor>(output, shape, result.output.layout), lse: result.lse };
  }

  async function attention(plan: AttentionKernelPlan): Promise<AttentionKernelResult> {
    const [q, k, v] = [plan.qTensor.data, plan.kTensor.data, plan.vTensor.data] as unknown[];
    if (![q, k, v].some(resident)) return host.attention(plan);
    const { batch, qHeads, qLen, vHeadDim } = plan;
    const outElements = batch * qHeads * qLen * vHeadDim;
    // Host q with resident k and v (a KV cache on the GPU) runs here too; its output is read back.
    const native =
      plan.outDtype === "float32" &&
      f32(plan.qTensor.dtype, q) &&
      [q, k, v].every((d) => (d as { length: number }).length <= max()) &&
      outElements <= max();
    if (!native) return attentionOnHost(plan);

    // The guard's measures, on the GPU: read back 4 bytes per head row of q, k and v.
    const measures = await Promise.all(
      [plan.qTensor, plan.kTensor, plan.vTensor].map((t) => measureKernel(ctx, gpuDtype(t.dtype))),
    );
    const measured = await ctx.run((job) => {
      const m = [
        recordMeasure(job, measures[0] as Kernel, bind(job, q, "q"), plan.q),
        recordMeasure(job, measures[1] as Kernel, bind(job, k, "k"), plan.k),
        recordMeasure(job, measures[2] as Kernel, bind(job, v, "v"), plan.v),
      ];
      job.read((m[0] as { norm: GPUBuffer }).norm, m[0]?.rows ?? 0);
      job.read((m[1] as { norm: GPUBuffer }).norm, m[1]?.rows ?? 0);
      job.read((m[2] as { top: GPUBuffer }).top, m[2]?.rows ?? 0);
    });
    const [qNorm, kNorm, vMax] = measured.map((m) => measureValues(m));
    const bad = (values: Float64Array | undefined, limit: number) =>
      (values ?? new Float64Array(0)).some((x) => !(x <= limit));
    // NaN, ±∞ or huge values: the guard zeroes rows of the GPU's copies, which needs them on the host.
    if (bad(qNorm, NORM_LIMIT) || bad(kNorm, NORM_LIMIT) || bad(vMax, V_LIMIT)) return attentionOnHost(plan);
    const prepared = prepareAttention(plan, NO_DATA, NO_DATA, NO_DATA, {
      qNorm: qNorm as Float64Array,
      kNorm: kNorm as Float64Array,
      vMax: vMax as Float64Array,
    });
    const mask = prepared.mask;
    if ((mask?.data.length ?? 0) > max()) return attentionOnHost(plan);

    const outDims = layoutDims(plan.qTensor.layout, batch, qLen, qHeads, vHeadDim);
    const kvLen = plan.kvLen;
    const geo: JobGeometry = {
      batch,
      qHeads,
      kvHeads: plan.kvHeads,
      q: strides(plan.q),
      k: strides(plan.k),
      v: strides(plan.v),
      o: strides(outDims),
      mask: mask
        ? {
            sb: mask.mb > 1 ? mask.mh * mask.mq * kvLen : 0,
            sh: mask.mh > 1 ? mask.mq * kvLen : 0,
            sq: mask.mq > 1 ? kvLen : 0,
          }
        : undefined,
    };
    const output = await residents.make("float32", outElements);
    let lse: Float32Array;
    try {
      const input = (d: unknown) =>
        resident(d)
          ? d.buffer
          : d instanceof Uint16Array || d instanceof Float32Array
            ? d
            : Float32Array.from(d as ArrayLike<number>);
      [, lse] = await runJob(
        ctx,
        plan,
        geo,
        {
          q: input(q),
          k: input(k),
          v: input(v),
          mask: mask?.data,
          slopes: plan.alibiSlopes ? Float32Array.from(plan.alibiSlopes) : undefined,
          output: output.buffer,
        },
        tuning,
      );
    } catch (error) {
      output.dispose();
      throw error;
    }
    finishLse(plan, prepared, lse);
    const shape: [number, number, number, number] =
      plan.qTensor.layout === "bshd" ? [batch, qLen, qHeads, vHeadDim] : [batch, qHeads, qLen, vHeadDim];
    if (!resident(q))
      return { output: { data: await hostOutput(output), shape, layout: plan.qTensor.layout }, lse };
    return { output: residentTensor<HeadsTensor>(output, shape, plan.qTensor.layout), lse };
  }

  /** rmsNorm through the host kernel on read-back inputs; the output stored resident when x is. */
  async function rmsNormOnHost(plan: RmsNormKernelPlan): Promise<Tensor> {
    const x = plan.x.data as unknown;
    const out = await host.rmsNorm({
      ...plan,
      x: await toHost(plan.x),
      weight: plan.weight ? await toHost(plan.weight) : undefined,
      inPlace: plan.inPlace && !resident(x),
    });
    if (!resident(x)) return out;
    const data = await store(out.data, plan.x.dtype, plan.inPlace ? x : undefined);
    return residentTensor(data, plan.x.shape, plan.x.layout);
  }

  /**
   * rmsNorm on a resident x: the rows' largest |x| measured on the GPU (4 bytes per row read back); rows
   * the host kernel sends to its f64 path (NaN, ±∞, all zeros, values ≥ 2^126, a non-finite weight) send
   * the call to `rmsNormOnHost`, the others run the host path's kernel on the buffers as they are.
   */
  async function rmsNorm(plan: RmsNormKernelPlan): Promise<Tensor> {
    const x = plan.x.data as unknown;
    const w = plan.weight?.data as unknown;
    if (!resident(x) && !resident(w)) return host.rmsNorm(plan);
    const { rows, dim } = plan;
    // Halves compute into an f32 scratch of x.length elements (twice x's buffer): past the binding
    // limit the host path computes instead, as applyRope, linear and attention do.
    if (!resident(x) || rows > ctx.gpu.limits.maxWorkgroupsPerDimension ** 2 || x.length > max())
      return rmsNormOnHost(plan);
    const xd = gpuDtype(plan.x.dtype);
    const wd = plan.weight ? gpuDtype(plan.weight.dtype) : "float32";
    const measureX = await measureKernel(ctx, xd);
    const measureW = await measureKernel(ctx, wd);
    const [xTop, wTop] = await ctx.run((job) => {
      const mx = recordMeasure(job, measureX, x.buffer, layoutDims("bhsd", 1, rows, 1, dim));
      job.read(mx.top, mx.rows);
      if (plan.weight) {
        const mw = recordMeasure(job, measureW, bind(job, w, "weight"), layoutDims("bhsd", 1, 1, 1, dim));
        job.read(mw.top, 1);
      }
    });
    const hostRow = (top: number) => top <= 0 || top >= HUGE; // −1: NaN or ±∞; 0: all zeros
    if ((xTop as Float32Array).some(hostRow) || (wTop !== undefined && (wTop[0] as number) < 0))
      return rmsNormOnHost(plan);
    const key = isHalf(xd) || isHalf(wd) ? `rms-norm:${dtypeKey(xd)}:${dtypeKey(wd)}` : "rms-norm";
    const kernel = await ctx.kernel(key, () => rmsNormWgsl(xd, wd), rmsNormInterface(xd, wd).bindings);
    const passes = isHalf(xd) ? await halfPasses(ctx, xd) : undefined;
    const out = plan.inPlace ? x : await residents.make(x.dtype, x.length);
    try {
      await ctx.run((job) => {
        const wb = plan.weight ? bind(job, w, "weight") : job.upload(new Float32Array(4), "weight");
        const params = job.uniform(
          packParams(RMS_NORM_FIELDS, {
            rows,
            dim,
            eps: plan.eps,
            weightOffset: plan.weightOffset,
            hasWeight: plan.weight ? 1 : 0,
          }),
        );
        if (passes) {
          // Halves: read as packed words, the f32 result rounded back into the output's buffer.
          const y = job.scratch(x.length, "output");
          job.dispatch(kernel, [x.buffer, wb, y, params], rows);
          storeRecorded(job, passes, y, out, x.length);
          return;
        }
        if (out !== x) job.encoder.copyBufferToBuffer(x.buffer, 0, out.buffer, 0, bufferSize(x.bytes));
        job.dispatch(kernel, [out.buffer, wb, params], rows);
      });
    } catch (error) {
      if (out !== x) out.dispose();
      throw error;
    }
    return residentTensor(out, plan.x.shape, plan.x.layout);
  }

  return {
    applyRope,
    linear,
    attention,
    async addRows(plan) {
      const x = plan.x.data as unknown;
      const table = plan.table as unknown;
      if (!resident(x) && !resident(table)) return host.addRows(plan);
      const hostTable = resident(table) ? await table.read() : plan.table;
      const out = await host.addRows({
        ...plan,
        x: await toHost(plan.x),
        table: hostTable,
        inPlace: plan.inPlace && !resident(x),
      });
      if (!resident(x)) return out;
      const data = await store(out.data, plan.x.dtype, plan.inPlace ? x : undefined);
      return residentTensor<EmbeddingTensor>(data, plan.dims);
    },
    rmsNorm,
  };
}
