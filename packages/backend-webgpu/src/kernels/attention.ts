import { type AttentionKernelPlan, RopekitError, layoutDims } from "@ropekit/core";
import { type GpuContext, type Job, bucket, packParams } from "../context.js";
import { type PreparedAttention, finishLse, prepareAttention } from "./attention-guard.js";
import {
  ATTENTION_FIELDS,
  type AttentionDtypes,
  type DecodeShape,
  type FlashLanesShape,
  type FlashRegShape,
  type FlashShape,
  DECODE_INTERFACE,
  FLASH_INTERFACE,
  REDUCE_INTERFACE,
  decodeWgsl,
  flashLanesWgsl,
  flashRegWgsl,
  flashWgsl,
  reduceWgsl,
} from "./attention-wgsl.js";
import {
  type GpuData,
  type GpuDtype,
  dtypeKey,
  isHalf,
  outputArray,
  outputPasses,
  recordOutput,
  resultData,
} from "./half-wgsl.js";

/** How attention picks its kernels. */
export interface AttentionTuning {
  /** "auto" (default): split-K decode for few query rows per kv head against many keys, else flash. */
  readonly path: "auto" | "flash" | "split";
  /** Keys per split-K chunk: 64, 128 or 256; default picked from the shape. */
  readonly splitKeys: number | undefined;
  /** Keys from which "auto" takes split-K when the rows allow it. Default 256. */
  readonly splitFrom: number;
  /**
   * Prefill kernel (head sizes up to UNROLLED_MAX_DIM; larger ones always take "looped"):
   * - "lanes": no workgroup memory or barriers, 4·rv rows per invocation in vec4 registers: the fast one
   *   on CPU-emulated GPUs (SwiftShader);
   * - "tiled": K/V tiles in workgroup memory read at constant indices, one row per invocation in vec4
   *   registers: the GPU form;
   * - "looped": one generic kernel per head-size bucket;
   * - "auto": "lanes" on software adapters, "tiled" on hardware ones.
   */
  readonly flashKernel: "auto" | "lanes" | "tiled" | "looped";
}

/** Largest headDim / vHeadDim the unrolled flash kernel is generated for (its code grows with both). */
export const UNROLLED_MAX_DIM = 128;
/** Rows per workgroup and keys per tile of the unrolled flash kernel. */
const REG_BR = 64;
const REG_BC = 16;
/** Invocations per workgroup, row vec4s per invocation and keys per softmax step of the lanes kernel. */
const LANES_WG = 16;
const LANES_RV = 2;
const LANES_KB = 1;

const BR = 64;
/** Decode handles at most this many query rows per kv head together. */
const MAX_DECODE_ROWS = 32;

function flashShape(ctx: GpuContext, headDim: number, vHeadDim: number): FlashShape {
  const dp = bucket(headDim);
  const dvp = bucket(vHeadDim);
  // K and V tiles in workgroup memory, a little left for the compiler.
  const budget = Math.floor(ctx.gpu.limits.maxWorkgroupStorage / 4) - 64;
  let bc = 64;
  while (bc > 1 && bc * (dp + dvp) > budget) bc /= 2;
  if (bc * (dp + dvp) > budget) {
    throw new RopekitError(
      "TOO_LARGE",
      `head sizes ${headDim}/${vHeadDim} need more workgroup memory than this adapter's ${ctx.gpu.limits.maxWorkgroupStorage} bytes`,
      "q.shape",
    );
  }
  return { br: Math.min(BR, ctx.gpu.limits.maxInvocations), bc, dp, dvp };
}

/** The unrolled flash kernel's shape for this call, or undefined where it does not apply. */
function flashRegShape(
  ctx: GpuContext,
  headDim: number,
  vHeadDim: number,
  data: { mask: unknown; slopes: unknown },
  softcap: number,
  tuning: AttentionTuning,
): FlashRegShape | undefined {
  if (tuning.flashKernel === "looped" || tuning.flashKernel === "lanes") return undefined;
  if (tuning.flashKernel === "auto" && ctx.gpu.adapter.software) return undefined;
  if (headDim > UNROLLED_MAX_DIM || vHeadDim > UNROLLED_MAX_DIM) return undefined;
  const d4 = Math.ceil(headDim / 4);
  const dv4 = Math.ceil(vHeadDim / 4);
  const budget = Math.floor(ctx.gpu.limits.maxWorkgroupStorage / 16) - 16;
  let bc = REG_BC;
  while (bc > 1 && bc * (d4 + dv4) > budget) bc /= 2;
  if (bc * (d4 + dv4) > budget) return undefined;
  return {
    br: Math.min(REG_BR, ctx.gpu.limits.maxInvocations),
    bc,
    d4,
    dv4,
    ...scoreTerms(data, softcap),
  };
}

/** Which optional score terms an unrolled kernel is specialised for (absent ones cost it nothing). */
function scoreTerms(data: { mask: unknown; slopes: unknown }, softcap: number) {
  return { mask: data.mask !== undefined, softcap: softcap > 0, alibi: data.slopes !== undefined };
}

/** The lanes flash kernel's shape for this call, or undefined where it does not apply. */
function flashLanesShape(
  ctx: GpuContext,
  headDim: number,
  vHeadDim: number,
  data: { mask: unknown; slopes: unknown },
  softcap: number,
  tuning: AttentionTuning,
): FlashLanesShape | undefined {
  if (tuning.flashKernel === "looped" || tuning.flashKernel === "tiled") return undefined;
  if (tuning.flashKernel === "auto" && !ctx.gpu.adapter.software) return undefined;
  if (headDim > UNROLLED_MAX_DIM || vHeadDim > UNROLLED_MAX_DIM) return undefined;
  return {
    wg: Math.min(LANES_WG, ctx.gpu.limits.maxInvocations),
    rv: LANES_RV,
    kb: LANES_KB,
    d: headDim,
    dv: vHeadDim,
    ...scoreTerms(data, softcap),
  };
}

/** The split-K decode shape for these rows, or undefined when decode does not fit them. */
function decodeShape(
  ctx: GpuContext,
  rows: number,
  headDim: number,
  vHeadDim: number,
  kvLen: number,
  tuning: AttentionTuning,
): DecodeShape | undefined {
  if (rows > MAX_DECODE_ROWS) return undefined;
  const rp = bucket(rows, 1);
  const dp = bucket(headDim);
  const dvp = bucket(vHeadDim);
  const budget = Math.floor(ctx.gpu.limits.maxWorkgroupStorage / 4) - 64;
  const wanted = tuning.splitKeys ?? (kvLen >= 8192 ? 256 : kvLen >= 1024 ? 128 : 64);
  for (let cp = wanted; cp >= 64; cp /= 2) {
    if (rp * dp + rp * cp + 2 * rp <= budget) return { rp, cp, dp, dvp };
  }
  return undefined;
}

/** Strides of the tensors one attention job reads and writes. */
export interface JobGeometry {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly q: { sb: number; ss: number; sh: number };
  readonly k: { sb: number; ss: number; sh: number };
  readonly v: { sb: number; ss: number; sh: number };
  readonly o: { sb: number; ss: number; sh: number };
  readonly mask: { sb: number; sh: number; sq: number } | undefined;
}

/**
 * One job's inputs: data for the GPU in the geometry above (each f32 or half bits, as the plan says), or
 * buffers already on it (resident tensors); `output`, for an f32 output, is the buffer to write it into
 * (then nothing is read back but the lse).
 */
export interface JobData {
  readonly q: GpuData | GPUBuffer;
  readonly k: GpuData | GPUBuffer;
  readonly v: GpuData | GPUBuffer;
  readonly mask: Float32Array | undefined;
  readonly slopes: Float32Array | undefined;
  readonly output?: GPUBuffer;
}

/** A job input's buffer: host data uploaded, a buffer already on the GPU as it is. */
function inputBuffer(job: Job, data: GpuData | GPUBuffer, what: string): GPUBuffer {
  return data instanceof Float32Array || data instanceof Uint16Array ? job.upload(data, what) : data;
}

/** Element strides of a tensor's dims, as a job's geometry takes them. */
export function strides(d: { strideBatch: number; strideSeq: number; strideHead: number }) {
  return { sb: d.strideBatch, ss: d.strideSeq, sh: d.strideHead };
}

/** A dtype the webgpu kernels read (core only hands them the declared ones). */
function gpuDtype(dtype: AttentionKernelPlan["outDtype"]): GpuDtype {
  return isHalf(dtype) ? dtype : "float32";
}

/**
 * Records and runs one attention job (the whole call, or one (batch, kv head) group of it); resolves to
 * [output in the job's output geometry and `plan.outDtype`, lse per row in (b, h, i) order]. q, k and v
 * are read in their own dtypes (halves decoded in the kernels); scores, softmax and accumulation in f32;
 * a half output is rounded to nearest even by the encode pass.
 */
export async function runJob(
  ctx: GpuContext,
  plan: AttentionKernelPlan,
  geo: JobGeometry,
  data: JobData,
  tuning: AttentionTuning,
): Promise<[GpuData, Float32Array]> {
  const { qLen, kvLen, headDim, vHeadDim } = plan;
  const dt: AttentionDtypes = {
    q: gpuDtype(plan.qTensor.dtype),
    k: gpuDtype(plan.kTensor.dtype),
    v: gpuDtype(plan.vTensor.dtype),
  };
  // Kernels of f32 inputs keep their keys; others are keyed by their input dtypes too.
  const dk =
    isHalf(dt.q) || isHalf(dt.k) || isHalf(dt.v)
      ? `:${dtypeKey(dt.q)}.${dtypeKey(dt.k)}.${dtypeKey(dt.v)}`
      : "";
  const outDtype = gpuDtype(plan.outDtype);
  const passes = await outputPasses(ctx, outDtype);
  const group = geo.qHeads / geo.kvHeads;
  const rowsPerGroup = group * qLen;
  const wantSplit =
    tuning.path === "split" || (tuning.path === "auto" && kvLen >= tuning.splitFrom && rowsPerGroup <= 16);
  const decode = wantSplit ? decodeShape(ctx, rowsPerGroup, headDim, vHeadDim, kvLen, tuning) : undefined;
  const outElements = geo.batch * geo.qHeads * qLen * vHeadDim;
  const rows = geo.batch * geo.qHeads * qLen;
  const nSplits = decode ? Math.ceil(kvLen / decode.cp) : 1;
  const values: Record<string, number> = {
    qLen,
    kvLen,
    qHeads: geo.qHeads,
    kvHeads: geo.kvHeads,
    group,
    headDim,
    vHeadDim,
    rowsPerGroup,
    qsb: geo.q.sb,
    qss: geo.q.ss,
    qsh: geo.q.sh,
    ksb: geo.k.sb,
    kss: geo.k.ss,
    ksh: geo.k.sh,
    vsb: geo.v.sb,
    vss: geo.v.ss,
    vsh: geo.v.sh,
    osb: geo.o.sb,
    oss: geo.o.ss,
    osh: geo.o.sh,
    msb: geo.mask?.sb ?? 0,
    msh: geo.mask?.sh ?? 0,
    msq: geo.mask?.sq ?? 0,
    hasMask: data.mask ? 1 : 0,
    qOffset: plan.qOffset,
    causal: plan.causal ? 1 : 0,
    window: plan.window,
    hasAlibi: data.slopes ? 1 : 0,
    scale: plan.scale,
    softcap: plan.softcap,
    splitKeys: decode?.cp ?? 0,
    nSplits,
  };
  const lanes = decode ? undefined : flashLanesShape(ctx, headDim, vHeadDim, data, plan.softcap, tuning);
  const reg = decode || lanes ? undefined : flashRegShape(ctx, headDim, vHeadDim, data, plan.softcap, tuning);
  const flash = decode || reg || lanes ? undefined : flashShape(ctx, headDim, vHeadDim);
  const rowsPerWorkgroup = lanes ? lanes.wg * 4 * lanes.rv : (reg?.br ?? flash?.br ?? 1);
  const kernelFlash = lanes
    ? await ctx.kernel(
        `attention-flash-lanes:${lanes.wg}:${lanes.rv}:${lanes.kb}:${lanes.d}:${lanes.dv}:${+lanes.mask}${+lanes.softcap}${+lanes.alibi}${dk}`,
        () => flashLanesWgsl(lanes, dt),
        FLASH_INTERFACE.bindings,
      )
    : reg
      ? await ctx.kernel(
          `attention-flash-reg:${reg.br}:${reg.bc}:${reg.d4}:${reg.dv4}:${+reg.mask}${+reg.softcap}${+reg.alibi}${dk}`,
          () => flashRegWgsl(reg, dt),
          FLASH_INTERFACE.bindings,
        )
      : flash
        ? await ctx.kernel(
            `attention-flash:${flash.br}:${flash.bc}:${flash.dp}:${flash.dvp}${dk}`,
            () => flashWgsl(flash, dt),
            FLASH_INTERFACE.bindings,
          )
        : undefined;
  const kernelDecode = decode
    ? await ctx.kernel(
        `attention-decode:${decode.rp}:${decode.cp}:${decode.dp}:${decode.dvp}${dk}`,
        () => decodeWgsl(decode, dt),
        DECODE_INTERFACE.bindings,
      )
    : undefined;
  const kernelReduce = decode
    ? await ctx.kernel("attention-reduce", reduceWgsl, REDUCE_INTERFACE.bindings)
    : undefined;
  if (decode)
    ctx.checkSize(
      geo.batch * geo.kvHeads * rowsPerGroup * nSplits * (vHeadDim + 2) * 4,
      "attention partials",
    );

  const [out, lse] = await ctx.run((job: Job) => {
    const qb = inputBuffer(job, data.q, "q");
    const kb = inputBuffer(job, data.k, "k");
    const vb = inputBuffer(job, data.v, "v");
    const mb = job.upload(data.mask ?? new Float32Array(4), "mask");
    const sb = job.upload(data.slopes ?? new Float32Array(4), "alibiSlopes");
    const ob = data.output ?? job.scratch(outElements, "output");
    const lb = job.scratch(rows, "lse");
    const params = job.uniform(packParams(ATTENTION_FIELDS, values));
    const bk = geo.batch * geo.kvHeads;
    if (kernelFlash) {
      const blocks = Math.ceil(rowsPerGroup / rowsPerWorkgroup);
      job.dispatch(kernelFlash, [qb, kb, vb, mb, sb, ob, lb, params], blocks, bk);
    } else if (kernelDecode && kernelReduce && decode) {
      const pb = job.scratch(bk * rowsPerGroup * nSplits * (vHeadDim + 2), "attention partials");
      job.dispatch(kernelDecode, [qb, kb, vb, mb, sb, pb, params], nSplits, bk);
      job.dispatch(kernelReduce, [pb, ob, lb, params], bk * rowsPerGroup);
    }
    if (data.output) job.read(lb, rows);
    else {
      recordOutput(job, passes, ob, outElements);
      job.read(lb, rows);
    }
  });
  if (data.output) return [new Float32Array(0), out as Float32Array];
  return [resultData(out as Float32Array, outDtype, outElements), lse as Float32Array];
}

/**
 * Heads [h0, h0 + heads) × positions [s0, s0 + seq) of batch entry b, gathered into bhsd [1, heads, seq,
 * dim] (f32 values or half bits, as `data` holds).
 */
function gatherGroup(
  data: GpuData,
  d: { strideBatch: number; strideSeq: number; strideHead: number; headDim: number },
  b: number,
  h0: number,
  heads: number,
  s0: number,
  seq: number,
): GpuData {
  const count = heads * seq * d.headDim;
  const out = data instanceof Uint16Array ? new Uint16Array(count) : new Float32Array(count);
  for (let h = 0; h < heads; h++) {
    for (let s = 0; s < seq; s++) {
      const from = b * d.strideBatch + (h0 + h) * d.strideHead + (s0 + s) * d.strideSeq;
      out.set(data.subarray(from, from + d.headDim), (h * seq + s) * d.headDim);
    }
  }
  return out;
}

/**
 * Attention for a plan from core (q and k already rotated when RoPE was fused; q, k and v each f32,
 * float16 or bfloat16). Returns the output in q's layout and `plan.outDtype` (half bits for a half) and
 * every row's lse in f32: NaN for rows left to core's f64 repair, −∞ for rows that saw no key.
 */
export async function attentionOnGpu(
  ctx: GpuContext,
  plan: AttentionKernelPlan,
  tuning: AttentionTuning,
): Promise<{ output: GpuData; lse: Float32Array }> {
  const { batch, qHeads, kvHeads, qLen, kvLen, vHeadDim } = plan;
  const prepared: PreparedAttention = prepareAttention(
    plan,
    plan.qTensor.data as GpuData,
    plan.kTensor.data as GpuData,
    plan.vTensor.data as GpuData,
  );
  const outDims = layoutDims(plan.qTensor.layout, batch, qLen, qHeads, vHeadDim);
  const max = ctx.maxBindingElements;
  const maskData = prepared.mask?.data;
  const whole =
    prepared.q.length <= max &&
    prepared.k.length <= max &&
    prepared.v.length <= max &&
    batch * qHeads * qLen * vHeadDim <= max &&
    (maskData?.length ?? 0) <= max;
  const slopes = plan.alibiSlopes ? Float32Array.from(plan.alibiSlopes) : undefined;
  const maskGeo = (mh: number, mq: number, mbFull: boolean) =>
    prepared.mask
      ? { sb: mbFull ? mh * mq * kvLen : 0, sh: mh > 1 ? mq * kvLen : 0, sq: mq > 1 ? kvLen : 0 }
      : undefined;

  let output: GpuData;
  let lse: Float32Array;
  if (whole) {
    const geo: JobGeometry = {
      batch,
      qHeads,
      kvHeads,
      q: strides(plan.q),
      k: strides(plan.k),
      v: strides(plan.v),
      o: strides(outDims),
      mask: prepared.mask ? maskGeo(prepared.mask.mh, prepared.mask.mq, prepared.mask.mb > 1) : undefined,
    };
    [output, lse] = await runJob(
      ctx,
      plan,
      geo,
      { q: prepared.q, k: prepared.k, v: prepared.v, mask: maskData, slopes },
      tuning,
    );
  } else {
    // Past one binding: one job per (batch, kv head) group and block of query indices, gathered into
    // bhsd copies. A group's K and V must fit one binding each (else TOO_LARGE from the upload).
    output = outputArray(gpuDtype(plan.outDtype), batch * qHeads * qLen * vHeadDim);
    lse = new Float32Array(batch * qHeads * qLen);
    const group = qHeads / kvHeads;
    const { headDim } = plan;
    const m = prepared.mask;
    const maskHeads = m && m.mh > 1 ? group : 1;
    const perQuery = Math.max(group * headDim, group * vHeadDim, m && m.mq > 1 ? maskHeads * kvLen : 0);
    const block = Math.max(1, Math.min(qLen, Math.floor(max / perQuery)));
    const kGeo = layoutDims("bhsd", 1, kvLen, 1, headDim);
    const vGeo = layoutDims("bhsd", 1, kvLen, 1, vHeadDim);
    for (let b = 0; b < batch; b++) {
      for (let kvh = 0; kvh < kvHeads; kvh++) {
        const h0 = kvh * group;
        const k = gatherGroup(prepared.k, plan.k, b, kvh, 1, 0, kvLen);
        const v = gatherGroup(prepared.v, plan.v, b, kvh, 1, 0, kvLen);
        for (let i0 = 0; i0 < qLen; i0 += block) {
          const n = Math.min(block, qLen - i0);
          let mask: Float32Array | undefined;
          let mGeo: JobGeometry["mask"];
          if (m) {
            // The mask rows of this group and block, as [heads, mq', kvLen].
            const mq = m.mq > 1 ? n : 1;
            mask = new Float32Array(maskHeads * mq * kvLen);
            for (let h = 0; h < maskHeads; h++) {
              const from =
                (((m.mb > 1 ? b : 0) * m.mh + (m.mh > 1 ? h0 + h : 0)) * m.mq + (m.mq > 1 ? i0 : 0)) * kvLen;
              mask.set(m.data.subarray(from, from + mq * kvLen), h * mq * kvLen);
            }
            mGeo = maskGeo(maskHeads, mq, false);
          }
          const [o, l] = await runJob(
            ctx,
            { ...plan, batch: 1, qHeads: group, kvHeads: 1, qLen: n, qOffset: plan.qOffset + i0 },
            {
              batch: 1,
              qHeads: group,
              kvHeads: 1,
              q: strides(layoutDims("bhsd", 1, n, group, headDim)),
              k: strides(kGeo),
              v: strides(vGeo),
              o: strides(layoutDims("bhsd", 1, n, group, vHeadDim)),
              mask: mGeo,
            },
            {
              q: gatherGroup(prepared.q, plan.q, b, h0, group, i0, n),
              k,
              v,
              mask,
              slopes: slopes?.subarray(h0, h0 + group),
            },
            tuning,
          );
          for (let h = 0; h < group; h++) {
            lse.set(l.subarray(h * n, (h + 1) * n), (b * qHeads + h0 + h) * qLen + i0);
            for (let i = 0; i < n; i++) {
              const to =
                b * outDims.strideBatch + (h0 + h) * outDims.strideHead + (i0 + i) * outDims.strideSeq;
              output.set(o.subarray((h * n + i) * vHeadDim, (h * n + i + 1) * vHeadDim), to);
            }
          }
        }
      }
    }
  }
  finishLse(plan, prepared, lse);
  return { output, lse };
}
