// Tensors from other libraries are read by their fields ({ type, data, dims }), on every backend built with
// defineBackend; here on the reference backend, against its results for the same numbers as ropekit tensors.
import { describe, expect, it } from "vitest";
import {
  RopekitError,
  createReferenceBackend,
  fromTensorLike,
  ropeSpec,
  toDimsTensor,
  toOrtTensor,
} from "../src/index.js";

const backend = createReferenceBackend();
const spec = ropeSpec({ headDim: 4 });
const values = Float64Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.sin(i + 1));

describe("tensors given as { data, dims }", () => {
  it("applyRope on { type, data, dims } with options.layout equals applyRope on { data, shape, layout }", async () => {
    const own = await backend.applyRope({ data: values, shape: [1, 2, 3, 4], layout: "bshd" }, spec, {
      positions: 5,
    });
    const dims = { type: "float64", data: values, dims: [1, 2, 3, 4] as readonly number[] };
    const foreign = await backend.applyRope(dims, spec, { positions: 5, layout: "bshd" });
    expect(foreign.shape).toEqual([1, 2, 3, 4]);
    expect(foreign.layout).toBe("bshd");
    expect(Array.from(foreign.data)).toEqual(Array.from(own.data));
    // The rotation really happened (position 5 is not the identity).
    expect(Array.from(own.data)).not.toEqual(Array.from(values));
  });

  it("a head tensor without a layout names options.layout and the two dims orders", async () => {
    const error = await backend
      .applyRope({ data: values, dims: [1, 2, 3, 4] }, spec)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RopekitError);
    expect(error).toMatchObject({ code: "INVALID_LAYOUT", argument: "x.layout" });
    expect((error as Error).message).toMatch(/options\.layout.*bshd.*bhsd/);
  });

  it("a tensor with neither shape nor dims says that dims would do", () => {
    expect(() => fromTensorLike({ data: values }, "x")).toThrow(/\{ data, dims \}/);
    expect(() => fromTensorLike({ data: values }, "x")).toThrow(
      expect.objectContaining({ code: "INVALID_SHAPE", argument: "x.shape" }),
    );
  });

  it("an element type ropekit does not compute on is INVALID_DTYPE naming the type", () => {
    expect(() =>
      fromTensorLike({ type: "int64", data: new BigInt64Array(24), dims: [1, 2, 3, 4] }, "x"),
    ).toThrow(expect.objectContaining({ code: "INVALID_DTYPE", argument: "x.type" }));
  });

  it("float16 / bfloat16 types become the dtype beside the Uint16Array bits", () => {
    const bits = new Uint16Array(6);
    expect(fromTensorLike({ type: "float16", data: bits, dims: [2, 3] }, "x")).toEqual({
      data: bits,
      shape: [2, 3],
      dtype: "float16",
    });
    expect(fromTensorLike({ type: "bfloat16", data: bits, dims: [2, 3] }, "x")).toMatchObject({
      dtype: "bfloat16",
    });
  });

  it("a layout option that contradicts the tensor's own layout is INVALID_LAYOUT", async () => {
    const error = await backend
      .applyRope({ data: values, shape: [1, 2, 3, 4], layout: "bhsd" }, spec, { layout: "bshd" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_LAYOUT" });
  });

  it("linear, rmsNorm and attention (mask as { data, dims } too) take dims tensors", async () => {
    const x = { data: Float64Array.from([1, 2, 3, 4, 5, 6]), dims: [2, 3] };
    const w = { data: Float64Array.from([1, 0, 0, 0, 1, 0]), dims: [2, 3] };
    const y = await backend.linear(x, w);
    expect(y.shape).toEqual([2, 2]);
    expect(Array.from(y.data)).toEqual([1, 2, 4, 5]);
    const n = await backend.rmsNorm(x);
    const plain = await backend.rmsNorm({ data: x.data, shape: [2, 3] });
    expect(Array.from(n.data)).toEqual(Array.from(plain.data));

    const q = { data: values, dims: [1, 3, 2, 4] };
    const mask = { data: Uint8Array.from([1, 0]), dims: [1, 1, 1, 2] };
    const withDims = await backend.attention(q, q, q, {
      mask: mask,
      layout: "bhsd",
    });
    const own = { data: values, shape: [1, 3, 2, 4], layout: "bhsd" } as const;
    const withShape = await backend.attention(own, own, own, {
      mask: { data: mask.data, shape: [1, 1, 1, 2] },
    });
    expect(Array.from(withDims.output.data)).toEqual(Array.from(withShape.output.data));
  });
});

describe("results handed back", () => {
  it("toDimsTensor gives { data, dims, type } sharing the data", () => {
    const data = new Float32Array(6);
    const t = toDimsTensor({ data, shape: [2, 3] });
    expect(t).toEqual({ data, dims: [2, 3], type: "float32" });
    expect(t.data).toBe(data);
  });

  it("toOrtTensor calls the constructor it is given with (type, data, dims)", () => {
    const calls: unknown[][] = [];
    class Fake {
      constructor(...args: unknown[]) {
        calls.push(args);
      }
    }
    const data = new Float64Array(4);
    const made = toOrtTensor({ data, shape: [1, 4] }, Fake);
    expect(made).toBeInstanceOf(Fake);
    expect(calls).toEqual([["float64", data, [1, 4]]]);
    expect(() => toOrtTensor({ data: new Uint16Array(4), shape: [4], dtype: "bfloat16" }, Fake)).toThrow(
      /bfloat16/,
    );
  });
});
