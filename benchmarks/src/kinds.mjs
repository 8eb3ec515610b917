// Ops that core describes with an `OpKind` (the recipe's ops: rmsNorm so far): the bench times the same
// descriptor the golden generator and the conformance suite use — its seeded inputs, its call, its f64
// reference as the correctness gate, its bytes and flops — on cases sized like real models. Runs in Node
// and in the browser (no Node imports).
import { maxRelativeError } from "@ropekit/core";
import { OP_KINDS, caseTensors } from "@ropekit/core/cases";

/** Bench-sized cases of each op kind, as grid configurations (`kind` marks them). */
export const KIND_CONFIGS = [
  {
    id: "rmsNorm/per-head-qwen3-4096",
    op: "rmsNorm",
    kind: true,
    label: "rmsNorm per head (Qwen3 q norm) [1, 4096, 32, 128]",
    case: { id: "bench/rmsNorm/per-head", op: "rmsNorm", shape: [1, 4096, 32, 128], weight: true, eps: 1e-6 },
    quick: true,
  },
  {
    id: "rmsNorm/full-width-olmo2-4096",
    op: "rmsNorm",
    kind: true,
    label: "rmsNorm over the full width (OLMo-2 q norm) [1, 4096, 4096]",
    case: { id: "bench/rmsNorm/full-width", op: "rmsNorm", shape: [1, 4096, 4096], weight: true, eps: 1e-6 },
    quick: false,
  },
  {
    // 16 tokens through Llama-3-8B's q_proj: 8 flops per byte of weights, so it is bounded by the
    // machine's matmul peak rather than by a copy of its 64 MiB.
    id: "linear/q-proj-16x4096x4096",
    op: "linear",
    kind: true,
    label: "linear 16 tokens × q_proj 4096 → 4096 (Llama-3-8B)",
    case: { id: "bench/linear/q-proj", op: "linear", shape: [16, 4096], outFeatures: 4096, bias: false },
    ceiling: "matmul",
    quick: false,
  },
];

/** The op kind a configuration runs. */
export function kindOf(config) {
  const kind = OP_KINDS.find((k) => k.op === config.op);
  if (!kind) throw new Error(`no op kind ${config.op} in @ropekit/core`);
  return kind;
}

/** The workload of an op-kind configuration: f32 inputs, bytes and flops from the descriptor, its gate. */
export function kindWorkload(config) {
  const kind = kindOf(config);
  const c = config.case;
  const tensors = caseTensors(kind.inputs(c), (values) => Float32Array.from(values));
  const bytes = kind.bytes(c);
  return {
    inputs: { tensors },
    bytes,
    flops: kind.flops(c),
    // A copy of the same bytes (half read, half written) into a new array, as the op's output is.
    copyElements: bytes / 8,
    ceiling: config.ceiling ?? "copy-fresh",
    gate: (out) => maxRelativeError(out, kind.reference(c, tensors).data),
  };
}

/** The timed call of an op-kind configuration on a ropekit backend. */
export function kindRun(backend, config, inputs) {
  const kind = kindOf(config);
  return async () => (await kind.run(backend, config.case, inputs.tensors)).data;
}
