import { attentionReferenceKernel } from "../attention/attention.js";
import { widenHalfKernels } from "../dtype/widen-kernels.js";
import { linearReference } from "../linear/linear.js";
import { rmsNormReference } from "../norm/rms-norm.js";
import { applyRopeReference } from "../rope/apply.js";
import type { ResolvedPositions } from "../rope/positions.js";
import type { FloatArray, MultimodalPositions } from "../types.js";
import type { Backend, BackendDescription, BackendRegistration } from "./contract.js";
import { EVERY_OP_AND_LAYOUT } from "./contract.js";
import { defineBackend } from "./define.js";
import type { SyncKernels } from "./kernels.js";

/** The f64 kernels on float data; `referenceKernels` adds float16/bfloat16 around them. */
const f64Kernels: SyncKernels = {
  applyRope(plan) {
    const idsOf = (p: ResolvedPositions) => p.ids ?? p.offset;
    const axes = plan.positions.axes;
    const positions = axes
      ? ([idsOf(axes[0]), idsOf(axes[1]), idsOf(axes[2])] as unknown as MultimodalPositions)
      : idsOf(plan.positions);
    const rope = plan.tableFromCaller ? plan.table : plan.spec;
    const options = {
      positions,
      inverse: plan.inverse,
      inPlace: plan.inPlace,
      ...(plan.tableFromCaller ? {} : { seqLen: plan.seqLen }),
    };
    return applyRopeReference(plan.x, rope, options);
  },
  addRows(plan) {
    const [batch, seq, dim] = plan.dims;
    // Float data only: half tensors arrive decoded (widenHalfKernels).
    const out = plan.inPlace ? (plan.x.data as FloatArray) : Float64Array.from(plan.x.data);
    for (let t = 0; t < batch * seq; t++) {
      const row = plan.rows[t] as number;
      for (let c = 0; c < dim; c++)
        out[t * dim + c] = (out[t * dim + c] as number) + (plan.table[row * dim + c] as number);
    }
    return { data: out, shape: [batch, seq, dim] };
  },
  attention: attentionReferenceKernel,
  linear: (plan) => linearReference(plan.x, plan.weight, plan.bias),
  rmsNorm: (plan) =>
    rmsNormReference(plan.x, plan.weight, {
      eps: plan.eps,
      weightOffset: plan.weightOffset,
      inPlace: plan.inPlace,
    }),
};

/**
 * The f64 reference of every op as kernels: what the reference backend runs, and the starting point of
 * a new backend (spread it, then replace kernels with yours one by one). RoPE from a spec is evaluated
 * in f64 per token, not from the f32 table core resolved. Float16/bfloat16 inputs are read as their exact
 * values and half outputs rounded once, to nearest even, from the f64 result.
 */
export const referenceKernels: SyncKernels = widenHalfKernels(f64Kernels, "float64");

/** What the reference kernels can do: every op, pairing and layout, every dtype, f64 arithmetic. */
export const referenceCapabilities: Omit<BackendDescription, "name" | "mode" | "notes"> = {
  precision: "f64",
  dtypes: ["float32", "float16", "bfloat16", "float64"],
  ...EVERY_OP_AND_LAYOUT,
  threads: 1,
};

/**
 * The f64 reference as a backend: slow, plain, the definition of every op. Useful to check a new
 * backend against and as an explicit choice (`ROPEKIT_BACKEND=reference`); never picked by default.
 */
export function createReferenceBackend(): Backend {
  return defineBackend({
    name: "reference",
    kernels: referenceKernels,
    syncKernels: referenceKernels,
    describe: () => ({
      ...referenceCapabilities,
      name: "reference",
      mode: "reference-f64",
      notes: "plain f64 loops; the definition other backends are checked against",
    }),
  });
}

/** Registration of the reference backend, at the lowest priority. */
export const referenceRegistration: BackendRegistration = {
  name: "reference",
  priority: 0,
  isSupported: () => true,
  create: createReferenceBackend,
};
