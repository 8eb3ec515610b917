import { describe, expect, it } from "vitest";
import {
  type AttentionKernelPlan,
  KVCache,
  MultiHeadAttention,
  addLearnedReference,
  addSinusoidalReference,
  applyRopeReference,
  attentionReference,
  convertTensor,
  linearReference,
  maxRelativeError,
  requireHostData,
  rmsNormReference,
  toDimsTensor,
  toOrtTensor,
  widenData,
  type HeadsTensor,
  type Kernels,
  type ResidentData,
  type TensorData,
  createReferenceBackend,
  defineBackend,
  headsDims,
  isResidentData,
  isRopekitError,
  residentTensorElements,
  referenceCapabilities,
  referenceKernels,
  ropeSpec,
} from "../src/index.js";
import { withResidentData } from "../src/tensor.js";

/** Resident data kept in a host array, counting what core does with it. */
class FakeResident implements ResidentData {
  readonly residentOn = "fake";
  readonly dtype = "float32" as const;
  reads = 0;
  writes = 0;
  disposed = false;
  constructor(public array: Float32Array) {}
  get length(): number {
    return this.array.length;
  }
  async read(): Promise<TensorData> {
    this.reads++;
    return this.array.slice();
  }
  async write(data: TensorData): Promise<void> {
    this.writes++;
    this.array = Float32Array.from(data);
  }
  dispose(): void {
    this.disposed = true;
  }
}

function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648) * 2 - 1;
  }
  return out;
}

function code(f: () => unknown): Promise<string> {
  return Promise.resolve()
    .then(f)
    .then(
      () => "resolved",
      (e: unknown) => (isRopekitError(e) ? e.code : String(e)),
    );
}

const hostOf = (t: HeadsTensor): HeadsTensor => {
  const data: unknown = t.data;
  return data instanceof FakeResident ? { ...t, data: data.array } : t;
};

/**
 * A backend whose kernels take FakeResident data: attention computes on the host arrays in f32 and, like an
 * f32 GPU kernel, reports row 0 as one it cannot compute (lse NaN, output garbage), leaving it to core.
 */
function fakeBackend(): ReturnType<typeof defineBackend> {
  const kernels: Kernels = {
    ...referenceKernels,
    attention(plan: AttentionKernelPlan) {
      const result = referenceKernels.attention({
        ...plan,
        qTensor: { ...hostOf(plan.qTensor), dtype: "float32" },
        kTensor: { ...hostOf(plan.kTensor), dtype: "float32" },
        vTensor: { ...hostOf(plan.vTensor), dtype: "float32" },
      });
      const out = Float32Array.from(result.output.data);
      const lse = Float32Array.from(result.lse);
      out.fill(12345, 0, plan.vHeadDim);
      lse[0] = Number.NaN;
      return { output: { ...result.output, data: new FakeResident(out) as never }, lse };
    },
  };
  return defineBackend({
    name: "fake",
    kernels,
    ownsResident: (data) => data instanceof FakeResident,
    describe: () => ({ ...referenceCapabilities, name: "fake", mode: "fake", precision: "f32" }),
  });
}

describe("resident data", () => {
  const shape = [1, 4, 2, 8] as const;
  const n = 64;

  it("is recognised, and checked by its length alone only where defineBackend's planning opts in", () => {
    const r = new FakeResident(new Float32Array(n));
    expect(isResidentData(r)).toBe(true);
    expect(isResidentData(new Float32Array(4))).toBe(false);
    expect(withResidentData(() => headsDims({ data: r as never, shape, layout: "bshd" })).heads).toBe(2);
    expect(() =>
      withResidentData(() => headsDims({ data: r as never, shape: [1, 4, 2, 4], layout: "bshd" })),
    ).toThrow(/resident data of 64/);
    expect(() => headsDims({ data: r as never, shape, layout: "bshd" })).toThrow(
      /x\.data lives on backend fake: read\(\) it to a host array first/,
    );
  });

  it("CPU functions, conversions and modules raise WRONG_BACKEND on resident data (no NaN, no TypeError)", async () => {
    const r = () => new FakeResident(seeded(n, 7)) as never;
    const heads = () => ({ data: r(), shape, layout: "bshd" as const });
    const host = { data: seeded(n, 8), shape, layout: "bshd" as const };
    const spec = ropeSpec({ headDim: 8 });
    const emb = () => ({ data: r(), shape: [1, 8, 8] as const });
    const wrong = (f: () => unknown) => code(f).then((c) => expect(c, String(f)).toBe("WRONG_BACKEND"));
    await wrong(() => applyRopeReference(heads(), spec, { positions: 0 }));
    await wrong(() => attentionReference(heads(), host, host));
    await wrong(() => attentionReference(host, host, heads()));
    await wrong(() => linearReference(emb(), { data: seeded(64, 9), shape: [8, 8] }));
    await wrong(() => linearReference({ data: seeded(64, 9), shape: [8, 8] }, { data: r(), shape: [8, 8] }));
    await wrong(() => rmsNormReference(emb()));
    await wrong(() =>
      rmsNormReference(
        { data: seeded(64, 9), shape: [8, 8] },
        { data: new FakeResident(seeded(8, 1)) as never, shape: [8] },
      ),
    );
    await wrong(() => addLearnedReference(emb(), { data: seeded(64, 9), shape: [8, 8] }));
    await wrong(() => addSinusoidalReference(emb()));
    await wrong(() => widenData(r(), "float32", "float64"));
    await wrong(() => convertTensor({ data: r(), shape: [64] }, "float16"));
    await wrong(() => maxRelativeError(r(), seeded(64, 1)));
    await wrong(() => maxRelativeError(seeded(64, 1), r()));
    await wrong(() => toDimsTensor({ data: r(), shape: [64] }));
    await wrong(() => toOrtTensor({ data: r(), shape: [64] }, class {} as never));
    await wrong(() => requireHostData(r(), "x"));
    requireHostData(seeded(4, 1), "x");
    const cache = new KVCache({ batch: 1, kvHeads: 2, headDim: 8 });
    await wrong(() => cache.append(heads(), host));
    await wrong(() => cache.append(host, heads()));
    expect(cache.length).toBe(0);
    const reference = createReferenceBackend();
    const weight = () => ({ data: seeded(16 * 16, 10), shape: [16, 16] });
    const config = { hiddenSize: 16, numHeads: 2, headDim: 8 };
    const weights = { q: weight(), k: weight(), v: weight(), o: weight() };
    const mha = new MultiHeadAttention(reference, { ...config, weights });
    const x = { data: new FakeResident(seeded(32, 11)) as never, shape: [1, 2, 16] as const };
    await expect(mha.forward(x)).rejects.toThrow(/MultiHeadAttention takes host arrays/);
    expect(await code(() => mha.forward(x))).toBe("WRONG_BACKEND");
    const fused = { data: new FakeResident(seeded(48 * 16, 12)) as never, shape: [48, 16] };
    await wrong(() => new MultiHeadAttention(reference, { ...config, weights: { qkv: fused, o: weight() } }));
    await wrong(
      () =>
        new MultiHeadAttention(reference, {
          ...config,
          weights: { ...weights, q: { data: r(), shape: [8, 8] } },
        }),
    );
  });

  it("raises WRONG_BACKEND on a backend that does not hold it, before any kernel runs", async () => {
    const reference = createReferenceBackend();
    const r = new FakeResident(seeded(n, 1));
    const x = { data: r as never, shape, layout: "bshd" as const };
    expect(await code(() => reference.applyRope(x, ropeSpec({ headDim: 8 }), { positions: 0 }))).toBe(
      "WRONG_BACKEND",
    );
    expect(await code(() => reference.sync?.linear(x, { data: new Float32Array(16), shape: [2, 8] }))).toBe(
      "WRONG_BACKEND",
    );
    expect(r.reads).toBe(0);
    // A resident mask is refused by name, whatever the backend.
    const host = { data: seeded(n, 2), shape, layout: "bshd" as const };
    const mask = { data: new FakeResident(new Float32Array(16)) as never, shape: [1, 1, 4, 4] };
    expect(await code(() => reference.attention(host, host, host, { mask }))).toBe("INVALID_OPTION");
  });

  it("attention's f64 repair and sinks read resident tensors back and write the output back", async () => {
    const backend = fakeBackend();
    const reference = createReferenceBackend();
    const [qd, kd, vd] = [seeded(n, 3), seeded(n, 4), seeded(n, 5)];
    const [q, k, v] = [qd, kd, vd].map((d) => new FakeResident(d.slice()));
    const t = (r: FakeResident | Float32Array) => ({ data: r as never, shape, layout: "bshd" as const });
    const sinks = [0.25, -0.5];
    const got = await backend.attention(t(q as FakeResident), t(k as FakeResident), t(v as FakeResident), {
      causal: true,
      sinks,
      returnLse: true,
    });
    const want = await reference.attention(t(qd), t(kd), t(vd), { causal: true, sinks, returnLse: true });
    const out = got.output.data as unknown as FakeResident;
    expect(out).toBeInstanceOf(FakeResident);
    expect(out.writes).toBe(1);
    expect((q as FakeResident).reads).toBe(1);
    let worst = 0;
    want.output.data.forEach((x, i) => {
      worst = Math.max(worst, Math.abs(x - (out.array[i] as number)));
    });
    expect(worst).toBeLessThan(1e-6);
    expect(Math.abs((got.lse?.[0] as number) - (want.lse?.[0] as number))).toBeLessThan(1e-6);
  });

  it("fused RoPE's resident rotated copies are disposed after attention", async () => {
    const made: FakeResident[] = [];
    const base = fakeBackend();
    const rope = defineBackend({
      name: "fake",
      kernels: {
        ...referenceKernels,
        attention: (plan) => ({
          ...referenceKernels.attention({
            ...plan,
            qTensor: { ...hostOf(plan.qTensor), dtype: "float32" },
            kTensor: { ...hostOf(plan.kTensor), dtype: "float32" },
            vTensor: { ...hostOf(plan.vTensor), dtype: "float32" },
          }),
        }),
        applyRope(plan) {
          const out = referenceKernels.applyRope({
            ...plan,
            x: { ...hostOf(plan.x), dtype: "float32" },
            inPlace: false,
          });
          const r = new FakeResident(Float32Array.from(out.data));
          made.push(r);
          return { ...out, data: r as never };
        },
      },
      ownsResident: (data) => data instanceof FakeResident,
      describe: () => ({ ...referenceCapabilities, name: "fake", mode: "fake", precision: "f64" }),
    });
    base.dispose();
    const x = () => ({ data: new FakeResident(seeded(n, 6)) as never, shape, layout: "bshd" as const });
    await rope.attention(x(), x(), x(), { rope: { rope: ropeSpec({ headDim: 8 }) } });
    expect(made).toHaveLength(2);
    expect(made.every((r) => r.disposed)).toBe(true);
  });
});

describe("residentTensorElements (the shape check behind every backend's tensor())", () => {
  const codeOf = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (error) {
      return isRopekitError(error) ? error.code : "not a RopekitError";
    }
    return undefined;
  };

  it("returns the element count of a valid shape, with or without a layout", () => {
    expect(residentTensorElements([2, 3, 4, 5], "bshd")).toBe(120);
    expect(residentTensorElements([7, 3], undefined)).toBe(21);
  });

  it("raises INVALID_SHAPE / INVALID_LAYOUT for bad shapes and layouts", () => {
    expect(codeOf(() => residentTensorElements([], undefined))).toBe("INVALID_SHAPE");
    expect(codeOf(() => residentTensorElements([2, 0], undefined))).toBe("INVALID_SHAPE");
    expect(codeOf(() => residentTensorElements([2, 1.5], undefined))).toBe("INVALID_SHAPE");
    expect(codeOf(() => residentTensorElements("2x3", undefined))).toBe("INVALID_SHAPE");
    expect(codeOf(() => residentTensorElements([1, 2, 3, 4], "hsbd"))).toBe("INVALID_LAYOUT");
    expect(codeOf(() => residentTensorElements([2, 3, 4], "bshd"))).toBe("INVALID_SHAPE");
  });
});
