// The decode mode's four-row in-place half path (GQA: 4 or 8 query rows per kv head, f16 / bf16 K and V
// read where they lie, f16 with the 2^112 fold in the queries and weights) against core's f64 reference
// on the same half values: key counts that end in partial tiles and an odd key, f16 subnormals in K and V,
// ±∞ in K (the f16 tile goes back to the staged path), NaN in V (the rows that see it), and queries too
// large for the fold (the staged path for the whole unit).
import {
  type AttentionOptions,
  type HalfDtype,
  type HeadsTensor,
  createReferenceBackend,
  halfBits,
} from "@ropekit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WasmBackend, createWasmBackend } from "../src/index.js";

const reference = createReferenceBackend();
const halves: HalfDtype[] = ["float16", "bfloat16"];

/** Deterministic values in (−amp, amp). */
function values(n: number, seed: number, amp: number): number[] {
  return Array.from({ length: n }, (_, j) => Math.sin(j * 0.731 + seed * 1.37) * amp);
}

function halfTensor(seq: number, count: number, dim: number, data: number[], dtype: HalfDtype): HeadsTensor {
  return {
    data: Uint16Array.from(data, (x) => halfBits(x, dtype)),
    shape: [1, count, seq, dim],
    layout: "bhsd",
    dtype,
  };
}

function f32Tensor(seq: number, count: number, dim: number, data: number[]): HeadsTensor<Float32Array> {
  return { data: Float32Array.from(data), shape: [1, count, seq, dim], layout: "bhsd" };
}

/**
 * Output row by row (one row: `dv` values of one query head and position): a NaN where the reference has
 * one, else within `tolerance` × the row's largest reference magnitude (the f32 kernel on exact half
 * inputs against f64); lse within `tolerance` × max(1, |lse|) where finite.
 */
function expectRows(
  got: { output: { data: ArrayLike<number> }; lse?: ArrayLike<number> | undefined },
  ref: { output: { data: ArrayLike<number> }; lse?: ArrayLike<number> | undefined },
  dv: number,
  tolerance: number,
): void {
  const a = got.output.data;
  const e = ref.output.data;
  expect(a.length).toBe(e.length);
  const wrong: string[] = [];
  for (let r = 0; r * dv < e.length; r++) {
    let scale = 1e-38;
    for (let x = 0; x < dv; x++) scale = Math.max(scale, Math.abs((e[r * dv + x] as number) || 0));
    for (let x = 0; x < dv; x++) {
      const i = r * dv + x;
      const [ai, ei] = [a[i] as number, e[i] as number];
      const ok = Number.isNaN(ei) ? Number.isNaN(ai) : Math.abs(ai - ei) <= tolerance * scale;
      if (!ok && wrong.length < 5) wrong.push(`row ${r} [${x}] got ${ai}, reference ${ei}`);
    }
  }
  if (ref.lse && got.lse) {
    for (let i = 0; i < ref.lse.length; i++) {
      const [ai, ei] = [got.lse[i] as number, ref.lse[i] as number];
      const ok = Number.isFinite(ei) ? Math.abs(ai - ei) <= tolerance * Math.max(1, Math.abs(ei)) : true;
      if (!ok && wrong.length < 10) wrong.push(`lse ${i}: got ${ai}, reference ${ei}`);
    }
  }
  expect(wrong).toEqual([]);
}

interface Shape {
  readonly name: string;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly qLen: number;
  readonly kvLen: number;
  readonly d: number;
  readonly options?: AttentionOptions;
}

const shapes: Shape[] = [
  // 1001 keys: chunks end in a partial tile of 9 keys, an odd one for the one-key tail.
  { name: "4 rows per kv head, d 128, 1001 keys", qHeads: 8, kvHeads: 2, qLen: 1, kvLen: 1001, d: 128 },
  {
    name: "8 rows per kv head (two passes), d 64, 2999 keys",
    qHeads: 8,
    kvHeads: 1,
    qLen: 1,
    kvLen: 2999,
    d: 64,
  },
  {
    name: "2 heads × 2 positions, causal (rows see different keys), d 8",
    qHeads: 4,
    kvHeads: 2,
    qLen: 2,
    kvLen: 67,
    d: 8,
    options: { causal: true },
  },
  {
    name: "4 rows, 3 keys (one tile: a pair and a single key)",
    qHeads: 4,
    kvHeads: 1,
    qLen: 1,
    kvLen: 3,
    d: 16,
  },
];

describe.each([1, 2])("backend-wasm GQA decode on half K/V in place, %i thread(s)", (threads) => {
  let backend: WasmBackend;
  beforeAll(async () => {
    backend = await createWasmBackend({ threads });
  });
  afterAll(() => backend.dispose());

  for (const s of shapes) {
    for (const dtype of halves) {
      it(`${s.name}, ${dtype}: output and lse match the f64 reference`, async () => {
        const q = f32Tensor(s.qLen, s.qHeads, s.d, values(s.qLen * s.qHeads * s.d, 1, 1.5));
        const n = s.kvLen * s.kvHeads * s.d;
        const k = halfTensor(s.kvLen, s.kvHeads, s.d, values(n, 2, 1.5), dtype);
        const v = halfTensor(s.kvLen, s.kvHeads, s.d, values(n, 3, 1.5), dtype);
        const options: AttentionOptions = { ...s.options, returnLse: true };
        const ref = await reference.attention(q, k, v, options);
        const got = await backend.attention(q, k, v, options);
        expectRows(got, ref, s.d, 2e-5);
      });
    }
  }

  const mixes: ["float32" | HalfDtype, "float32" | HalfDtype][] = [
    ["float32", "float16"],
    ["bfloat16", "float32"],
    ["bfloat16", "float16"],
  ];
  for (const [kd, vd] of mixes) {
    it(`K ${kd}, V ${vd} (each side in place or not on its own): the f64 reference's rows`, async () => {
      const [qHeads, kvHeads, kvLen, d] = [8, 2, 1001, 128];
      const n = kvLen * kvHeads * d;
      const side = (seed: number, dtype: "float32" | HalfDtype) =>
        dtype === "float32"
          ? f32Tensor(kvLen, kvHeads, d, values(n, seed, 1.5))
          : halfTensor(kvLen, kvHeads, d, values(n, seed, 1.5), dtype);
      const q = f32Tensor(1, qHeads, d, values(qHeads * d, 11, 1.5));
      const options: AttentionOptions = { returnLse: true };
      const ref = await reference.attention(q, side(12, kd), side(13, vd), options);
      const got = await backend.attention(q, side(12, kd), side(13, vd), options);
      expectRows(got, ref, d, 2e-5);
    });
  }

  it("float16 subnormals in K and V (scores and outputs built from them) match the f64 reference", async () => {
    const [qHeads, kvHeads, kvLen, d] = [8, 2, 777, 128];
    // Every K and V value a subnormal half (1 … 1023 steps of 2^−24, either sign); the queries large
    // (|q·scale| up to ~2650, still inside the fold's 2^16) so that the scores spread over a few units.
    const sub = (j: number, seed: number) => {
      const steps = 1 + ((j * 7919 + seed * 104729) % 1023);
      return ((j + seed) % 3 === 0 ? -steps : steps) * 2 ** -24;
    };
    const n = kvLen * kvHeads * d;
    const k = halfTensor(
      kvLen,
      kvHeads,
      d,
      Array.from({ length: n }, (_, j) => sub(j, 1)),
      "float16",
    );
    const v = halfTensor(
      kvLen,
      kvHeads,
      d,
      Array.from({ length: n }, (_, j) => sub(j, 2)),
      "float16",
    );
    const q = f32Tensor(1, qHeads, d, values(qHeads * d, 4, 3e4));
    const options: AttentionOptions = { returnLse: true };
    const ref = await reference.attention(q, k, v, options);
    const got = await backend.attention(q, k, v, options);
    // Not flushed to zero: the outputs are weighted sums of subnormal halves, themselves tiny.
    const out = Array.from(got.output.data);
    expect(out.some((x) => x !== 0 && Math.abs(x) < 2 ** -14)).toBe(true);
    expectRows(got, ref, d, 1e-4);
  });

  for (const dtype of halves) {
    it(`${dtype}: ±∞ in K and NaN in V give the reference's rows (only the rows of their kv head)`, async () => {
      const [qHeads, kvHeads, kvLen, d] = [16, 4, 1200, 64];
      const n = kvLen * kvHeads * d;
      const k = halfTensor(kvLen, kvHeads, d, values(n, 5, 1.5), dtype);
      const v = halfTensor(kvLen, kvHeads, d, values(n, 6, 1.5), dtype);
      const [inf, negInf, nan] = dtype === "float16" ? [0x7c00, 0xfc00, 0x7e00] : [0x7f80, 0xff80, 0x7fc0];
      const kd = k.data as Uint16Array;
      const vd = v.data as Uint16Array;
      kd[(1 * kvLen + 100) * d + 3] = inf; // kv head 1, key 100: its rows' outputs NaN (∞ − ∞ or ∞·0)
      kd[(2 * kvLen + 1199) * d + 60] = negInf; // kv head 2, the last (odd tail) key: a −∞ score, weight 0
      vd[(3 * kvLen + 650) * d + 9] = nan; // kv head 3, key 650: channel 9 NaN
      const q = f32Tensor(1, qHeads, d, values(qHeads * d, 7, 1.5));
      const ref = await reference.attention(q, k, v, { returnLse: true });
      const got = await backend.attention(q, k, v, { returnLse: true });
      const e = Array.from(ref.output.data);
      expect(e.some(Number.isNaN)).toBe(true);
      // kv head 0 (query heads 0-3) has no special value: finite, like the reference.
      expect(Array.from(got.output.data.slice(0, 4 * d)).every(Number.isFinite)).toBe(true);
      expectRows(got, ref, d, 2e-5);
    });
  }

  it("float16 K with |q·scale| ≥ 2^16 (the 2^112 fold would overflow) matches the f64 reference", async () => {
    const [qHeads, kvHeads, kvLen, d] = [8, 2, 999, 32];
    const scale = 1 / Math.sqrt(d);
    // Query head 5 (kv head 1) has one channel at 2^17 / scale; keys small enough that scores stay moderate.
    const qv = values(qHeads * d, 8, 1.5);
    qv[5 * d + 7] = 2 ** 17 / scale;
    const n = kvLen * kvHeads * d;
    const k = halfTensor(kvLen, kvHeads, d, values(n, 9, 2 ** -14), "float16");
    const v = halfTensor(kvLen, kvHeads, d, values(n, 10, 1.5), "float16");
    const q = f32Tensor(1, qHeads, d, qv);
    const ref = await reference.attention(q, k, v, { returnLse: true });
    const got = await backend.attention(q, k, v, { returnLse: true });
    expect(Array.from(got.output.data).every(Number.isFinite)).toBe(true);
    // This pins the rows' values, not the path: had the kernel used an overflowed fold, the ∞ scores would
    // have sent the rows to the host's f64 recompute, which is right too. Scores up to ~8 on this head: their f32 rounding (~2^−24 relative each) moves the weights a little more.
    expectRows(got, ref, d, 1e-4);
  });
});
