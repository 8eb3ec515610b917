import { DTYPES } from "../dtype/dtype.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import { type RopeInput, planApplyRope } from "../rope/apply.js";
import { isResidentData } from "../resident.js";
import { type HeadsDims, checkFloatData, headsDims } from "../tensor.js";
import type { Dtype, HeadsTensor, MultimodalPositions, Positions } from "../types.js";

/**
 * Which keys a causal query sees.
 * - `true` / `"bottom-right"`: query i of qLen sits at position kvLen − qLen + i and sees keys ≤ that
 *   position — the KV-cache convention (a decoding token sees the whole cache and itself).
 * - `"top-left"`: query i sees keys ≤ i, whatever kvLen is. This is what PyTorch SDPA's `is_causal=True`
 *   does; it differs from bottom-right only when qLen ≠ kvLen.
 */
export type CausalMode = boolean | "bottom-right" | "top-left";

/**
 * A mask broadcast over [batch, heads, qLen, kvLen]: each of the first three dims is 1 or full size,
 * the last is kvLen. `Uint8Array` data is boolean (non-zero = the key takes part, as PyTorch's boolean
 * masks); float data is added to the scores (use −Infinity to remove a key).
 */
export interface AttentionMask {
  readonly data: Uint8Array | Float32Array | Float64Array;
  /** Four dims, [batch|1, heads|1, qLen|1, kvLen] (checked when planned; any readonly array types). */
  readonly shape: readonly number[];
}

/** RoPE applied to q and k inside attention; equal to applying it to both first. */
export interface FusedRope {
  readonly rope: RopeInput;
  /** Default: bottom-right aligned, i.e. query i at kvLen − qLen + i (offset by kPositions' start). */
  readonly qPositions?: Positions | MultimodalPositions;
  /** Default: key j at position j. */
  readonly kPositions?: Positions | MultimodalPositions;
}

/** Options of `attention`. */
export interface AttentionOptions {
  /** Multiplies q·k. Default 1/√headDim (Gemma-2 uses query_pre_attn_scalar^−½: pass it). */
  scale?: number;
  /** See `CausalMode`. Default false. */
  causal?: CausalMode;
  /** Boolean or additive mask, see `AttentionMask`. */
  mask?: AttentionMask;
  /**
   * Sliding window W (Mistral, Qwen2, Gemma-2 local layers): query at position p sees keys j with
   * p − W < j ≤ p — W keys including itself. Implies the causal upper bound (aligned as `causal` says,
   * bottom-right by default).
   */
  window?: number;
  /** Logit soft-cap c (Gemma-2): s ← c·tanh(s/c) on the scaled scores, before masks and biases. */
  softcap?: number;
  /** ALiBi slopes, one per query head: adds slope_h · (j − p) to the score of key j for a query at p. */
  alibiSlopes?: ArrayLike<number>;
  /**
   * Attention sinks (GPT-OSS): one learned logit per query head that joins the softmax denominator only —
   * softmax over [scores, sink], the sink's share dropped — so the key weights sum to less than 1.
   */
  sinks?: ArrayLike<number>;
  /** Rotate q and k inside the op. */
  rope?: FusedRope;
  /** Only the first kvLength keys of k and v are valid (a KV cache with spare capacity). Default all. */
  kvLength?: number;
  /** Also return the log-sum-exp of every query row's scores (−Infinity for a fully masked row). */
  returnLse?: boolean;
  /**
   * The output's dtype, one the backend takes (e.g. "float32" out of bfloat16 q, k, v). Default q's. The
   * f64 reference functions ignore it (they return f64).
   */
  outputDtype?: Dtype;
}

/** What `attention` returns. */
export interface AttentionResult {
  /** Same layout as q, shape [batch, qHeads, qLen, vHeadDim] in that layout. A fully masked row is 0. */
  readonly output: HeadsTensor;
  /** [batch, qHeads, qLen] log-sum-exp of the final scores, when `returnLse` was set. */
  readonly lse: Float32Array | Float64Array | undefined;
}

/** The sizes of one attention call (a plan's, or a test case's). */
export interface AttentionSizes {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly qLen: number;
  /** Valid keys (kvLength, or k's seq). */
  readonly kvLen: number;
  readonly headDim: number;
}

/** Validated arguments of `attention`. */
export interface AttentionPlan extends AttentionSizes {
  readonly q: HeadsDims;
  readonly k: HeadsDims;
  readonly v: HeadsDims;
  readonly vHeadDim: number;
  readonly scale: number;
  /** Absolute position of query row 0 (queries are at qOffset + i); keys are at 0 … kvLen − 1. */
  readonly qOffset: number;
  /** Causal upper bound on? */
  readonly causal: boolean;
  /** 0 = no window. */
  readonly window: number;
  /** 0 = no soft-cap. */
  readonly softcap: number;
  readonly alibiSlopes: Float64Array | undefined;
  /** One sink logit per query head, or undefined. */
  readonly sinks: Float64Array | undefined;
  readonly mask:
    | {
        readonly data: Uint8Array | Float32Array | Float64Array;
        readonly boolean: boolean;
        readonly strideBatch: number;
        readonly strideHead: number;
        readonly strideQuery: number;
      }
    | undefined;
  readonly rope: FusedRope | undefined;
  readonly returnLse: boolean;
}

function invalid(
  argument: string,
  expected: string,
  got: unknown,
  code: "INVALID_OPTION" | "INVALID_SHAPE" = "INVALID_OPTION",
): never {
  throw new RopekitError(code, `${argument} must be ${expected}, got ${describeValue(got)}`, argument);
}

const ATTENTION_OPTIONS = [
  "scale",
  "causal",
  "mask",
  "window",
  "softcap",
  "alibiSlopes",
  "sinks",
  "rope",
  "kvLength",
  "returnLse",
  "outputDtype",
] as const satisfies readonly (keyof AttentionOptions)[];

/** One finite number per query head (ALiBi slopes, sink logits), as f64; undefined when absent. */
function perHead(
  values: ArrayLike<number> | undefined,
  heads: number,
  name: string,
  what: string,
): Float64Array | undefined {
  if (values === undefined) return undefined;
  if (values === null || typeof values !== "object" || values.length !== heads) {
    invalid(name, `${heads} ${what} (one per query head)`, values);
  }
  const out = Float64Array.from(values);
  for (const [i, x] of out.entries()) if (!Number.isFinite(x)) invalid(`${name}[${i}]`, "finite", x);
  return out;
}

/** The kv head that query head h reads under GQA/MQA: ⌊h·kvHeads/qHeads⌋. */
export function kvHeadOf(h: number, qHeads: number, kvHeads: number): number {
  return Math.floor((h * kvHeads) / qHeads);
}

/** Validates every argument of attention; shared by the reference and every backend. */
export function planAttention(
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  options: AttentionOptions = {},
): AttentionPlan {
  const qd = headsDims(q, "q");
  const kd = headsDims(k, "k");
  const vd = headsDims(v, "v");
  checkOptions(options, ATTENTION_OPTIONS);
  if (kd.batch !== qd.batch || vd.batch !== qd.batch) {
    invalid(
      "k.shape",
      `batch ${qd.batch} like q (k has ${kd.batch}, v has ${vd.batch})`,
      kd.batch,
      "INVALID_SHAPE",
    );
  }
  if (kd.headDim !== qd.headDim)
    invalid("k.shape", `head size ${qd.headDim} like q`, kd.headDim, "INVALID_SHAPE");
  if (vd.heads !== kd.heads) invalid("v.shape", `${kd.heads} heads like k`, vd.heads, "INVALID_SHAPE");
  if (vd.seq !== kd.seq) invalid("v.shape", `${kd.seq} positions like k`, vd.seq, "INVALID_SHAPE");
  if (qd.heads % kd.heads !== 0) {
    throw new RopekitError(
      "INVALID_SHAPE",
      `q has ${qd.heads} heads and k/v ${kd.heads}: for GQA/MQA the kv head count must divide the query head count`,
      "k.shape",
    );
  }

  let kvLen = kd.seq;
  if (options.kvLength !== undefined) {
    if (!Number.isSafeInteger(options.kvLength) || options.kvLength < 1 || options.kvLength > kd.seq) {
      invalid("kvLength", `an integer in [1, ${kd.seq}] (k's seq)`, options.kvLength);
    }
    kvLen = options.kvLength;
  }

  const scale = options.scale ?? 1 / Math.sqrt(qd.headDim);
  if (typeof scale !== "number" || !Number.isFinite(scale) || scale <= 0)
    invalid("scale", "a finite number > 0", scale);

  const causalOption = options.causal ?? false;
  if (![true, false, "bottom-right", "top-left"].includes(causalOption)) {
    invalid("causal", 'true, false, "bottom-right" or "top-left"', causalOption);
  }
  let window = 0;
  if (options.window !== undefined) {
    if (!Number.isSafeInteger(options.window) || options.window < 1)
      invalid("window", "a positive integer", options.window);
    window = options.window;
  }
  const causal = causalOption !== false || window > 0;
  const qOffset = causalOption === "top-left" ? 0 : kvLen - qd.seq;

  let softcap = 0;
  if (options.softcap !== undefined) {
    if (typeof options.softcap !== "number" || !Number.isFinite(options.softcap) || options.softcap <= 0) {
      invalid("softcap", "a finite number > 0", options.softcap);
    }
    softcap = options.softcap;
  }

  const alibiSlopes = perHead(options.alibiSlopes, qd.heads, "alibiSlopes", "slopes");
  const sinks = perHead(options.sinks, qd.heads, "sinks", "sink logits");

  let mask: AttentionPlan["mask"];
  if (options.mask !== undefined) {
    const m = options.mask;
    if (m === null || typeof m !== "object" || !Array.isArray(m.shape) || m.shape.length !== 4) {
      invalid("mask.shape", "[batch|1, heads|1, qLen|1, kvLen]", m?.shape);
    }
    const [mb, mh, mq, mk] = m.shape;
    const fits = (n: number, full: number) => n === 1 || n === full;
    if (!fits(mb, qd.batch) || !fits(mh, qd.heads) || !fits(mq, qd.seq) || (mk !== kvLen && mk !== kd.seq)) {
      throw new RopekitError(
        "INVALID_SHAPE",
        `mask.shape must broadcast to [${qd.batch}, ${qd.heads}, ${qd.seq}, ${kvLen}] (each of the first three 1 or full), got [${m.shape.join(", ")}]`,
        "mask.shape",
      );
    }
    if (isResidentData(m.data)) {
      throw new RopekitError(
        "INVALID_OPTION",
        "mask.data must be a host array (Uint8Array or float data): masks are read on the CPU, resident masks are not taken",
        "mask.data",
      );
    }
    const boolean = m.data instanceof Uint8Array;
    if (!boolean) checkFloatData(m.data, mb * mh * mq * mk, "mask.data");
    else if (m.data.length !== mb * mh * mq * mk) {
      invalid("mask.data", `${mb * mh * mq * mk} elements for its shape`, m.data, "INVALID_SHAPE");
    }
    mask = {
      data: m.data,
      boolean,
      strideBatch: mb === 1 ? 0 : mh * mq * mk,
      strideHead: mh === 1 ? 0 : mq * mk,
      strideQuery: mq === 1 ? 0 : mk,
    };
  }

  if (
    options.rope !== undefined &&
    (options.rope === null || typeof options.rope !== "object" || !options.rope.rope)
  ) {
    invalid("rope", "{ rope: RopeSpec | RopeTable, qPositions?, kPositions? }", options.rope);
  }
  if (options.rope !== undefined) {
    // Fused RoPE is planned here with the rest, so a bad position is reported under its own name.
    checkOptions(options.rope, ["rope", "qPositions", "kPositions"], "rope");
    const { qPositions, kPositions } = options.rope;
    planApplyRope(
      q,
      options.rope.rope,
      { positions: qPositions ?? Math.max(0, qOffset) },
      "q",
      "rope.qPositions",
    );
    planApplyRope(k, options.rope.rope, { positions: kPositions ?? 0 }, "k", "rope.kPositions");
  }
  if (options.returnLse !== undefined && typeof options.returnLse !== "boolean")
    invalid("returnLse", "a boolean", options.returnLse);
  if (options.outputDtype !== undefined && !DTYPES.includes(options.outputDtype))
    invalid("outputDtype", `one of ${DTYPES.join(", ")}`, options.outputDtype);

  return {
    q: qd,
    k: kd,
    v: vd,
    batch: qd.batch,
    qHeads: qd.heads,
    kvHeads: kd.heads,
    qLen: qd.seq,
    kvLen,
    headDim: qd.headDim,
    vHeadDim: vd.headDim,
    scale,
    qOffset,
    causal,
    window,
    softcap,
    alibiSlopes,
    sinks,
    mask,
    rope: options.rope,
    returnLse: options.returnLse === true,
  };
}

/**
 * The keys [lo, hi) that causal and window bounds leave to query row i (other masks still apply).
 * An empty range (lo ≥ hi) means the row sees nothing.
 */
export function visibleKeys(
  plan: Pick<AttentionPlan, "causal" | "qOffset" | "kvLen" | "window">,
  i: number,
): { lo: number; hi: number } {
  if (!plan.causal) return { lo: 0, hi: plan.kvLen };
  const p = plan.qOffset + i;
  // Both ends clamped to [0, kvLen]: a query past the last key (top-left with qLen > kvLen) or before
  // the first (bottom-right with qLen > kvLen) gets an empty range inside the keys, never past them.
  const hi = Math.max(0, Math.min(plan.kvLen, p + 1));
  const lo = plan.window > 0 ? Math.min(hi, Math.max(0, p - plan.window + 1)) : 0;
  return { lo, hi };
}

/** Default positions for fused RoPE: keys at 0…kvLen−1, queries bottom-right aligned (qOffset + i). */
export function fusedRopePositions(plan: AttentionPlan): {
  q: Positions | MultimodalPositions;
  k: Positions | MultimodalPositions;
} {
  const rope = plan.rope as FusedRope;
  return {
    q: rope.qPositions ?? Math.max(0, plan.qOffset),
    k: rope.kPositions ?? 0,
  };
}
