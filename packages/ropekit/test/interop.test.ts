// Tensors from onnxruntime and transformers.js go into the top-level API as they are, and results go back
// as onnxruntime tensors. onnxruntime-common's real Tensor class is used; transformers.js's Tensor is a
// structural fixture (its package is hundreds of MB with onnxruntime-node inside; only its fields matter:
// `type`, `data`, `dims`, the same as onnxruntime's). Expected values come from the f64 reference.
import { Tensor as OrtTensor } from "onnxruntime-common";
import { describe, expect, it } from "vitest";
import {
  RopekitError,
  applyRope,
  applyRopeReference,
  attention,
  attentionReference,
  linear,
  maxRelativeError,
  ropeSpec,
  toDimsTensor,
  toOrtTensor,
} from "../src/index.js";

const spec = ropeSpec({ headDim: 8 });
const dims = [1, 3, 2, 8] as const; // [batch, heads, seq, headDim]: what transformers.js feeds attention
const values = Float32Array.from({ length: 48 }, (_, i) => Math.cos(i * 0.7));

/** transformers.js's Tensor, by its fields (it keeps `dims` as a plain number[]). */
class TransformersJsTensor {
  constructor(
    readonly type: string,
    readonly data: Float32Array,
    readonly dims: number[],
  ) {}
}

const reference = applyRopeReference(
  { data: Float64Array.from(values), shape: [...dims], layout: "bhsd" },
  spec,
  { positions: 7 },
);

describe("tensors from other libraries in the top-level API", () => {
  it("applyRope takes an onnxruntime-common Tensor with options.layout, and the result becomes one again", async () => {
    const q = new OrtTensor("float32", values.slice(), dims);
    const out = await applyRope(q, spec, { positions: 7, layout: "bhsd" });
    expect(out.shape).toEqual([...dims]);
    expect(maxRelativeError(out.data, reference.data)).toBeLessThan(1e-5);

    const back = toOrtTensor(out, OrtTensor);
    expect(back).toBeInstanceOf(OrtTensor);
    expect(back.type).toBe("float32");
    expect(back.dims).toEqual([...dims]);
    expect(back.data).toBe(out.data); // shared, not copied
  });

  it("applyRope takes a transformers.js Tensor and a plain { data, dims, layout }", async () => {
    const fromTjs = await applyRope(new TransformersJsTensor("float32", values.slice(), [...dims]), spec, {
      positions: 7,
      layout: "bhsd",
    });
    const plain = await applyRope({ data: values.slice(), dims, layout: "bhsd" }, spec, { positions: 7 });
    expect(maxRelativeError(fromTjs.data, reference.data)).toBeLessThan(1e-5);
    expect(Array.from(plain.data)).toEqual(Array.from(fromTjs.data));
  });

  it("ropekit tensors with readonly number[] shapes typecheck and run", async () => {
    const shape: readonly number[] = dims;
    const out = await applyRope({ data: values.slice(), shape, layout: "bhsd" }, spec, { positions: 7 });
    expect(maxRelativeError(out.data, reference.data)).toBeLessThan(1e-5);
  });

  it("attention on onnxruntime tensors matches the reference; linear hands back { data, dims, type }", async () => {
    const t = () => new OrtTensor("float32", values.slice(), dims);
    const { output } = await attention(t(), t(), t(), { causal: true, layout: "bhsd" });
    const own = { data: Float64Array.from(values), shape: [...dims], layout: "bhsd" } as const;
    const expected = attentionReference(own, own, own, { causal: true });
    expect(maxRelativeError(output.data, expected.output.data)).toBeLessThan(1e-5);

    const y = await linear(new OrtTensor("float32", Float32Array.from([1, 2, 3, 4]), [2, 2]), {
      data: Float32Array.from([0, 1, 1, 0]),
      dims: [2, 2],
    });
    expect(toDimsTensor(y)).toEqual({ data: Float32Array.from([2, 1, 4, 3]), dims: [2, 2], type: "float32" });
  });

  it("without a layout, the error says how to give one; int64 tensors are INVALID_DTYPE", async () => {
    const q = new OrtTensor("float32", values.slice(), dims);
    const missing = await applyRope(q, spec).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(RopekitError);
    expect(missing).toMatchObject({ code: "INVALID_LAYOUT" });
    expect((missing as Error).message).toMatch(/options\.layout/);
    const ids = new OrtTensor("int64", new BigInt64Array(48), dims);
    await expect(applyRope(ids, spec, { layout: "bhsd" })).rejects.toMatchObject({ code: "INVALID_DTYPE" });
  });
});
