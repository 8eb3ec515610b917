// rmsNorm runs in the wasm kernel (f64 sum of squares, f32x4 scaling), on 1 and 2 threads: rows of any
// width, weights w and 1 + w, values whose squares pass the f32 range, in place and out of place, on
// plain arrays and resident tensors. Compared with the f64 reference.
import { type Tensor, maxRelativeError, rmsNormReference } from "@ropekit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WasmBackend, createWasmBackend } from "../src/index.js";

const values = (n: number, seed = 0, scale = 1) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * scale * (1 + (i % 7)));

describe.each([1, 2])("backend-wasm rmsNorm, %i thread(s)", (threads) => {
  let backend: WasmBackend;
  beforeAll(async () => {
    backend = await createWasmBackend({ threads });
  });
  afterAll(() => backend.dispose());

  const cases = [
    { shape: [3, 128], weightOffset: 0 },
    { shape: [2, 5, 13], weightOffset: 1 }, // a width that is no multiple of 4
    { shape: [1, 4, 7, 64], weightOffset: 0 },
    { shape: [1, 2, 4096], weightOffset: 1 },
  ];
  for (const { shape, weightOffset } of cases) {
    it(`[${shape}] with weightOffset ${weightOffset}, without and with a weight`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const dim = shape[shape.length - 1] as number;
      const x: Tensor = { data: values(n, 1), shape };
      const weight: Tensor = { data: values(dim, 2, 0.5), shape: [dim] };
      for (const w of [undefined, weight]) {
        const got = await backend.rmsNorm(x, w, { weightOffset, eps: 1e-5 });
        const ref = rmsNormReference(x, w, { weightOffset, eps: 1e-5 });
        expect(maxRelativeError(got.data as Float32Array, ref.data)).toBeLessThanOrEqual(1e-6);
      }
    });
  }

  it("values near 1e25 (squares past f32) give the reference, not zeros", async () => {
    const x: Tensor = { data: values(4 * 96, 3, 1e25), shape: [4, 96] };
    const got = await backend.rmsNorm(x);
    const ref = rmsNormReference(x);
    expect(Array.from(got.data).every(Number.isFinite)).toBe(true);
    expect(maxRelativeError(got.data as Float32Array, ref.data)).toBeLessThanOrEqual(1e-6);
  });

  it("in place on a plain array, and on a resident tensor where it lies", async () => {
    const shape = [6, 40];
    const x: Tensor = { data: values(240, 4), shape };
    const ref = rmsNormReference(x, undefined, { eps: 1e-6 });
    const plain = x.data.slice() as Float32Array;
    const out = await backend.rmsNorm({ data: plain, shape }, undefined, { inPlace: true });
    expect(out.data).toBe(plain);
    expect(maxRelativeError(plain, ref.data)).toBeLessThanOrEqual(1e-6);

    const t = backend.tensor(shape);
    t.data.set(x.data);
    const copy = await backend.rmsNorm(t as unknown as Tensor);
    expect(Array.from(t.data)).toEqual(Array.from(x.data)); // out of place: the tensor is untouched
    expect(maxRelativeError(copy.data as Float32Array, ref.data)).toBeLessThanOrEqual(1e-6);
    const inPlace = await backend.rmsNorm(t as unknown as Tensor, undefined, { inPlace: true });
    expect(inPlace.data.buffer).toBe(t.data.buffer); // the wasm memory itself
    expect(maxRelativeError(t.data, ref.data)).toBeLessThanOrEqual(1e-6);
    t.dispose();
  });

  it("the sync op gives the async op's numbers", async () => {
    const x: Tensor = { data: values(5 * 24, 5), shape: [5, 24] };
    const weight: Tensor = { data: values(24, 6), shape: [24] };
    const a = await backend.rmsNorm(x, weight, { weightOffset: 1 });
    const s = backend.sync.rmsNorm(x, weight, { weightOffset: 1 });
    expect(Array.from(s.data)).toEqual(Array.from(a.data));
  });
});
