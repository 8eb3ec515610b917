// Attention where f32 goes wrong and the f64 reference does not (issue 12, defect 3): finite inputs whose
// scores or outputs pass the f32 range, NaN inputs, and masks at the edge of f32. backend-wasm must give
// what the reference gives, row for row: NaN where it has NaN, −∞ lse only for rows it masks fully.
import {
  type AttentionOptions,
  type HeadsTensor,
  type Layout,
  createReferenceBackend,
  ropeSpec,
} from "@ropekit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WasmBackend, createWasmBackend } from "../src/index.js";

const reference = createReferenceBackend();

function heads(
  seq: number,
  headCount: number,
  seed: number,
  scale = 1,
  layout: Layout = "bhsd",
  headDim = 16,
): HeadsTensor<Float32Array> {
  const data = Float32Array.from(
    { length: seq * headCount * headDim },
    (_, j) => Math.sin(j * 0.37 + seed) * scale,
  );
  const shape: [number, number, number, number] =
    layout === "bhsd" ? [1, headCount, seq, headDim] : [1, seq, headCount, headDim];
  return { data, shape, layout };
}

/**
 * Every element as the reference has it, rounded to f32: NaN where it is NaN, the same infinity where
 * it overflows f32, else within `tolerance` of the largest finite magnitude.
 */
function expectReference(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.fround(expected[i] as number);
    if (Number.isFinite(e)) scale = Math.max(scale, Math.abs(e));
  }
  const wrong: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = Math.fround(expected[i] as number);
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= tolerance * Math.max(scale, 1e-30) : Object.is(a, e);
    if (!ok && wrong.length < 5) wrong.push(`[${i}] got ${a}, reference ${e}`);
  }
  expect(wrong).toEqual([]);
}

async function expectSameAttention(
  backend: WasmBackend,
  q: HeadsTensor,
  k: HeadsTensor,
  v: HeadsTensor,
  options: AttentionOptions,
): Promise<{ output: Float32Array; lse: Float32Array }> {
  const ref = await reference.attention(q, k, v, { ...options, returnLse: true });
  const got = await backend.attention(q, k, v, { ...options, returnLse: true });
  expectReference(got.output.data, ref.output.data);
  expectReference(got.lse as Float32Array, ref.lse as Float64Array);
  return { output: got.output.data as Float32Array, lse: got.lse as Float32Array };
}

describe.each([1, 2])("backend-wasm attention past f32, %i thread(s)", (threads) => {
  let backend: WasmBackend;
  beforeAll(async () => {
    backend = await createWasmBackend({ threads });
  });
  afterAll(() => backend.dispose());

  it("q, k × 1e20: finite scores past the f32 range give the reference's output, not zeros", async () => {
    const { output, lse } = await expectSameAttention(
      backend,
      heads(40, 2, 1, 1e20),
      heads(48, 2, 2, 1e20),
      heads(48, 2, 3),
      {},
    );
    expect(output.every(Number.isFinite)).toBe(true);
    expect(Array.from(lse).includes(Number.NEGATIVE_INFINITY)).toBe(false);
  });

  it("the same in bshd layout, with GQA and causal", async () => {
    await expectSameAttention(
      backend,
      heads(40, 4, 1, 1e20, "bshd"),
      heads(40, 2, 2, 1e20, "bshd"),
      heads(40, 2, 3, 1, "bshd"),
      { causal: true },
    );
  });

  it("q, k × 1e30 with softcap 50 give the reference's output", async () => {
    await expectSameAttention(backend, heads(4, 2, 1, 1e30), heads(8, 2, 2, 1e30), heads(8, 2, 3), {
      softcap: 50,
    });
  });

  it("q, k × 1e20 with fused RoPE are recomputed from the unrotated inputs", async () => {
    await expectSameAttention(backend, heads(4, 2, 1, 1e20), heads(8, 2, 2, 1e20), heads(8, 2, 3), {
      rope: { rope: ropeSpec({ headDim: 16 }) },
      causal: true,
    });
  });

  it("v = 1e38 over 16 keys averages to 1e38, not Infinity", async () => {
    const v = heads(16, 1, 0);
    v.data.fill(1e38);
    const { output } = await expectSameAttention(backend, heads(3, 1, 1), heads(16, 1, 2), v, {});
    for (const x of output) expect(x / 1e38).toBeCloseTo(1, 5);
  });

  it("a NaN in k gives NaN (output and lse) in exactly the rows that see that key", async () => {
    const k = heads(8, 1, 2);
    k.data[3 * 16 + 5] = Number.NaN; // key 3
    const { lse } = await expectSameAttention(backend, heads(8, 1, 1), k, heads(8, 1, 3), { causal: true });
    expect(Array.from(lse, Number.isNaN)).toEqual([false, false, false, true, true, true, true, true]);
  });

  it("a NaN in v of a key the causal mask removes does not reach the output", async () => {
    const v = heads(8, 1, 3);
    v.data[7 * 16] = Number.NaN; // key 7: only row 7 sees it
    const { output } = await expectSameAttention(backend, heads(8, 1, 1), heads(8, 1, 2), v, {
      causal: true,
    });
    expect(output.slice(0, 7 * 16).every(Number.isFinite)).toBe(true);
  });

  it("a NaN in v of a visible key whose weight underflowed to 0 still gives NaN (0·NaN), as the reference", async () => {
    // One query row: key 0 scores 275 below the others, so its weight is exactly 0 in f32 and f64.
    const q = heads(1, 1, 0);
    q.data.fill(0);
    q.data[0] = 10;
    const k = heads(40, 1, 0);
    k.data.fill(0);
    for (let j = 0; j < 40; j++) k.data[j * 16] = j === 0 ? -100 : 10;
    const v = heads(40, 1, 3);
    v.data[0] = Number.NaN;
    const { output } = await expectSameAttention(backend, q, k, v, { scale: 0.25 });
    expect(Number.isNaN(output[0])).toBe(true);
  });

  it("a +∞ additive mask value gives NaN as in the reference", async () => {
    const mask = new Float32Array(4 * 8);
    mask[2 * 8 + 5] = Number.POSITIVE_INFINITY;
    await expectSameAttention(backend, heads(4, 1, 1), heads(8, 1, 2), heads(8, 1, 3), {
      mask: { data: mask, shape: [1, 1, 4, 8] },
    });
  });

  it("a mask of −3.4028235e38 (torch.finfo(float32).min) is a finite value: uniform average, lse ≈ −3.4e38", async () => {
    const mask = new Float32Array(4 * 8).fill(-3.4028235e38);
    const v = heads(8, 1, 3);
    const { output, lse } = await expectSameAttention(backend, heads(4, 1, 1), heads(8, 1, 2), v, {
      mask: { data: mask, shape: [1, 1, 4, 8] },
    });
    for (const l of lse) expect(l).toBeLessThan(-3e38);
    let mean = 0;
    for (let j = 0; j < 8; j++) mean += (v.data[j * 16] as number) / 8;
    expect(output[0]).toBeCloseTo(mean, 5);
  });

  it("that mask plus scores of about −1e33 (an f32 sum of −∞ for every key) still follows the reference", async () => {
    // q·k < 0 for every key: each masked score overflows f32 to −∞, so the row looked fully masked.
    const q = heads(4, 1, 0);
    q.data.fill(3e16);
    const k = heads(8, 1, 0);
    for (let j = 0; j < 8; j++) k.data.fill(-3e16 * (1 + j / 8), j * 16, (j + 1) * 16);
    const mask = new Float32Array(4 * 8).fill(-3.4028235e38);
    const { output } = await expectSameAttention(backend, q, k, heads(8, 1, 3), {
      mask: { data: mask, shape: [1, 1, 4, 8] },
    });
    expect(output.some((x) => x !== 0)).toBe(true); // key 0's v, not a fully masked row's zeros
  });

  it("an f64 mask with finite values past f32 (−1e39) is not taken for −∞", async () => {
    const mask = new Float64Array(4 * 8).fill(-1e39);
    await expectSameAttention(backend, heads(4, 1, 1), heads(8, 1, 2), heads(8, 1, 3), {
      mask: { data: mask, shape: [1, 1, 4, 8] },
    });
  });

  it("fully masked rows stay zeros with lse −∞; the other rows are untouched", async () => {
    const mask = new Uint8Array(4 * 8).fill(1);
    mask.fill(0, 8, 16); // row 1 sees nothing
    const { output, lse } = await expectSameAttention(
      backend,
      heads(4, 1, 1),
      heads(8, 1, 2),
      heads(8, 1, 3),
      {
        mask: { data: mask, shape: [1, 1, 4, 8] },
      },
    );
    expect(lse[1]).toBe(Number.NEGATIVE_INFINITY);
    expect(Array.from(output.slice(16, 32))).toEqual(new Array(16).fill(0));
  });
});
