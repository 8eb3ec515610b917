import type {
  AddRowsKernelPlan,
  AttentionKernelPlan,
  KernelTensor,
  Kernels,
  LinearKernelPlan,
  MaybePromise,
  RmsNormKernelPlan,
  RopeKernelPlan,
} from "../backend/kernels.js";
import type { Dtype, Tensor, TensorData } from "../types.js";
import { isHalfDtype, narrowData, widenData } from "./dtype.js";

/** The arithmetic width a wrapped backend's kernels compute in. */
export type KernelWidth = "float32" | "float64";

function then<T, U>(value: MaybePromise<T>, f: (v: T) => U): MaybePromise<U> {
  return value instanceof Promise ? value.then(f) : f(value);
}

/** A half tensor as `to` numbers (exact); float tensors as they are. */
function widen<T extends KernelTensor>(t: T, to: KernelWidth): T {
  return isHalfDtype(t.dtype) ? { ...t, data: widenData(t.data, t.dtype, to), dtype: to } : t;
}

/**
 * The kernel's output rounded to `dtype` when that is a half (into `into` for an in-place call); float
 * outputs pass through, so f32/f64 calls behave exactly as without the wrapper.
 */
function narrow<T extends Tensor>(out: T, dtype: Dtype, into?: TensorData): T {
  if (!isHalfDtype(dtype)) return out;
  return { ...out, data: narrowData(out.data, dtype, into), dtype };
}

/**
 * Makes kernels written for f32 (or f64) data take float16 and bfloat16 too, by converting at the
 * boundary: half inputs are decoded (exactly) to `width` arrays before the kernel, a half output is
 * rounded to nearest even after it, and an in-place call on half data computes on the decoded copy
 * then writes the rounded bits back into the caller's array. Float inputs reach the kernels untouched.
 *
 * One full conversion pass per half tensor per call: simple, and right for backends whose time is
 * dominated by the arithmetic (backend-js, the f64 reference). Memory-bound kernels (decode attention)
 * should read the bits themselves instead.
 */
export function widenHalfKernels<K extends Kernels>(kernels: K, width: KernelWidth): K {
  const inPlaceOnHalf = (x: KernelTensor, inPlace: boolean) => inPlace && isHalfDtype(x.dtype);
  const wrapped: Kernels = {
    applyRope(plan: RopeKernelPlan) {
      const x = widen(plan.x, width);
      // On a decoded copy the kernel may always work in place; the caller's bits are written after.
      const out = kernels.applyRope({ ...plan, x, inPlace: plan.inPlace || x !== plan.x });
      return then(out, (o) =>
        narrow(o, plan.x.dtype, inPlaceOnHalf(plan.x, plan.inPlace) ? plan.x.data : undefined),
      );
    },
    addRows(plan: AddRowsKernelPlan) {
      const x = widen(plan.x, width);
      const table = isHalfDtype(plan.tableDtype) ? widenData(plan.table, plan.tableDtype, width) : plan.table;
      const tableDtype = isHalfDtype(plan.tableDtype) ? width : plan.tableDtype;
      const out = kernels.addRows({ ...plan, x, table, tableDtype, inPlace: plan.inPlace || x !== plan.x });
      return then(out, (o) =>
        narrow(o, plan.x.dtype, inPlaceOnHalf(plan.x, plan.inPlace) ? plan.x.data : undefined),
      );
    },
    attention(plan: AttentionKernelPlan) {
      const out = kernels.attention({
        ...plan,
        qTensor: widen(plan.qTensor, width),
        kTensor: widen(plan.kTensor, width),
        vTensor: widen(plan.vTensor, width),
        outDtype: isHalfDtype(plan.outDtype) ? width : plan.outDtype,
      });
      return then(out, (o) => ({ ...o, output: narrow(o.output, plan.outDtype) }));
    },
    linear(plan: LinearKernelPlan) {
      const out = kernels.linear({
        ...plan,
        x: widen(plan.x, width),
        weight: widen(plan.weight, width),
        bias: plan.bias ? widen(plan.bias, width) : undefined,
        outDtype: isHalfDtype(plan.outDtype) ? width : plan.outDtype,
      });
      return then(out, (o) => narrow(o, plan.outDtype));
    },
    rmsNorm(plan: RmsNormKernelPlan) {
      const x = widen(plan.x, width);
      const out = kernels.rmsNorm({
        ...plan,
        x,
        weight: plan.weight ? widen(plan.weight, width) : undefined,
        inPlace: plan.inPlace || x !== plan.x,
      });
      return then(out, (o) =>
        narrow(o, plan.x.dtype, inPlaceOnHalf(plan.x, plan.inPlace) ? plan.x.data : undefined),
      );
    },
  };
  return { ...kernels, ...wrapped } as K;
}
