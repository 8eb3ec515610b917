// The split-K decode mode (few query rows per kv head against a long cache): chunk boundaries, GQA groups
// of every size it takes, tails of head sizes and of key tiles, every score option, and the lse the chunks
// combine into — each against core's f64 reference, output and lse.
import { type AttentionOptions, type HeadsTensor, createReferenceBackend } from "@ropekit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WasmBackend, createWasmBackend } from "../src/index.js";

const reference = createReferenceBackend();

function heads(seq: number, count: number, dim: number, seed: number): HeadsTensor<Float32Array> {
  const data = Float32Array.from({ length: seq * count * dim }, (_, j) => Math.sin(j * 0.731 + seed) * 1.5);
  return { data, shape: [1, count, seq, dim], layout: "bhsd" };
}

/** Every value within `tolerance` × the largest reference magnitude (lse: × max(1, |lse|)). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let scale = 1e-30;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i] as number));
  const wrong: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= tolerance * scale : Object.is(a, e);
    if (!ok && wrong.length < 5) wrong.push(`[${i}] got ${a}, reference ${e}`);
  }
  expect(wrong).toEqual([]);
}

interface Case {
  readonly name: string;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly qLen: number;
  readonly kvLen: number;
  readonly d?: number;
  readonly dv?: number;
  readonly options?: AttentionOptions;
}

const long = 3001; // one kv head, 1 thread: four chunks of 768 keys, the last one ragged
const cases: Case[] = [
  {
    name: "MHA, one kv head, long cache over four chunks",
    qHeads: 1,
    kvHeads: 1,
    qLen: 1,
    kvLen: long,
    d: 128,
  },
  { name: "GQA 4 per kv head, d 128", qHeads: 8, kvHeads: 2, qLen: 1, kvLen: 1500, d: 128 },
  { name: "GQA 8 per kv head (the most rows)", qHeads: 8, kvHeads: 1, qLen: 1, kvLen: long, d: 64 },
  { name: "GQA 3 per kv head (two rows then one)", qHeads: 6, kvHeads: 2, qLen: 1, kvLen: 777, d: 32 },
  {
    name: "GQA 2, two query positions, causal",
    qHeads: 4,
    kvHeads: 2,
    qLen: 2,
    kvLen: 1029,
    options: { causal: true },
  },
  { name: "GQA 5 and 7 rows", qHeads: 7, kvHeads: 1, qLen: 1, kvLen: 600, d: 16 },
  {
    name: "MHA, three positions, top-left causal",
    qHeads: 2,
    kvHeads: 2,
    qLen: 3,
    kvLen: 1100,
    options: { causal: "top-left" },
  },
  {
    name: "head size 12 (not a multiple of 8), v head size 36",
    qHeads: 2,
    kvHeads: 1,
    qLen: 1,
    kvLen: 1000,
    d: 12,
    dv: 36,
  },
  { name: "v head size 20 (no 32-channel block)", qHeads: 1, kvHeads: 1, qLen: 1, kvLen: 999, d: 8, dv: 20 },
  {
    name: "sliding window across chunk boundaries",
    qHeads: 4,
    kvHeads: 1,
    qLen: 1,
    kvLen: long,
    options: { window: 1000 },
  },
  { name: "softcap", qHeads: 2, kvHeads: 1, qLen: 1, kvLen: 1300, options: { softcap: 2 } },
  {
    name: "ALiBi",
    qHeads: 4,
    kvHeads: 2,
    qLen: 1,
    kvLen: 1300,
    options: { alibiSlopes: [0.5, 0.25, 0.125, 0.0625], causal: true },
  },
  {
    name: "sinks (applied from the lse)",
    qHeads: 4,
    kvHeads: 1,
    qLen: 1,
    kvLen: 2000,
    options: { sinks: [1, 2, -1, 8] },
  },
  {
    name: "kvLength shorter than the cache",
    qHeads: 2,
    kvHeads: 1,
    qLen: 1,
    kvLen: 2100,
    options: { kvLength: 1234, causal: true },
  },
  { name: "short cache (one chunk, one partial tile)", qHeads: 4, kvHeads: 2, qLen: 1, kvLen: 13 },
];

function maskFor(c: Case, boolean: boolean): NonNullable<AttentionOptions["mask"]> {
  const n = c.qLen * c.kvLen;
  const shape: [number, number, number, number] = [1, 1, c.qLen, c.kvLen];
  // Whole chunks masked out (keys 768 … 1535) and scattered keys elsewhere.
  const removed = (j: number) => (j >= 768 && j < 1536) || j % 7 === 3;
  if (boolean)
    return { data: Uint8Array.from({ length: n }, (_, i) => (removed(i % c.kvLen) ? 0 : 1)), shape };
  return {
    data: Float32Array.from({ length: n }, (_, i) =>
      removed(i % c.kvLen) ? Number.NEGATIVE_INFINITY : Math.cos(i) * 0.5,
    ),
    shape,
  };
}

describe.each([1, 2])("backend-wasm split-K decode, %i thread(s)", (threads) => {
  let backend: WasmBackend;
  beforeAll(async () => {
    backend = await createWasmBackend({ threads });
  });
  afterAll(() => backend.dispose());

  async function expectReference(c: Case, options: AttentionOptions = c.options ?? {}): Promise<void> {
    const d = c.d ?? 64;
    const q = heads(c.qLen, c.qHeads, d, 1);
    const k = heads(c.kvLen, c.kvHeads, d, 2);
    const v = heads(c.kvLen, c.kvHeads, c.dv ?? d, 3);
    const ref = await reference.attention(q, k, v, { ...options, returnLse: true });
    const got = await backend.attention(q, k, v, { ...options, returnLse: true });
    expectClose(got.output.data, ref.output.data, 2e-5);
    expectClose(got.lse as Float32Array, ref.lse as Float64Array, 2e-6);
  }

  for (const c of cases) it(c.name, () => expectReference(c));

  it("boolean and additive masks removing whole chunks", async () => {
    const c = cases[0] as Case;
    await expectReference(c, { mask: maskFor(c, true) });
    await expectReference(c, { mask: maskFor(c, false) });
  });

  it("a fully masked row: zero output, lse −∞", async () => {
    const c: Case = { name: "", qHeads: 2, kvHeads: 1, qLen: 1, kvLen: 1030 };
    const mask = {
      data: new Uint8Array(c.kvLen),
      shape: [1, 1, 1, c.kvLen] as [number, number, number, number],
    };
    const q = heads(1, 2, 64, 1);
    const got = await backend.attention(q, heads(c.kvLen, 1, 64, 2), heads(c.kvLen, 1, 64, 3), {
      mask,
      returnLse: true,
    });
    expect(Array.from(got.output.data).every((x) => x === 0)).toBe(true);
    expect(Array.from(got.lse as Float32Array)).toEqual([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]);
  });

  it("a NaN in v of one chunk reaches exactly the rows that see it", async () => {
    const c = cases[0] as Case;
    const v = heads(c.kvLen, 1, 128, 3);
    v.data[2000 * 128 + 7] = Number.NaN;
    const q = heads(2, 1, 128, 1);
    const k = heads(c.kvLen, 1, 128, 2);
    // Bottom-right causal with a 1000-key window: row 0 (position 2999) sees key 2000, row 1 (3000) does not.
    const options: AttentionOptions = { causal: true, window: 1000, returnLse: true };
    const ref = await reference.attention(q, k, v, options);
    const got = await backend.attention(q, k, v, options);
    expect(Number.isNaN((got.output.data as Float32Array)[7])).toBe(true);
    expect(Number.isNaN((ref.output.data as Float64Array)[7])).toBe(true);
    expectClose(got.output.data.subarray(128), ref.output.data.subarray(128), 2e-5);
  });
});
