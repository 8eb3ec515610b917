import {
  type AttentionOptions,
  type AttentionResult,
  type Backend,
  type HeadsTensor,
  type Layout,
  createReferenceBackend,
  headsShape,
} from "@ropekit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 12: inputs on which gpujs attention gave a silently wrong answer (NaN, ∞, zeros or a finite
// wrong value) where the f64 reference gives a well-defined one. Every expectation comes from
// createReferenceBackend() on the same call; the reference's f64 result is rounded to f32 (what a f32
// backend can return) before comparing. Shared by the Node modes (reliability.test.ts) and Chromium's
// (browser/reliability.test.ts); nothing here needs Node.

/** torch.finfo(torch.float32).min: what transformers writes into padding masks. */
const F32_MIN = -3.4028234663852886e38;

/** mulberry32: a small seeded generator, so every run draws the same cases. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded q (qLen rows) and k, v (kvLen rows), batch 1, 2 heads of 8, in one layout (q and k times
 * `qkScale`); `r` seeds more. */
function qkvOf(seed: number, layout: Layout, qLen: number, kvLen: number, qkScale = 1) {
  const r = rng(seed);
  const q = tensor(r, layout, 1, qLen, 2, 8, qkScale);
  const k = tensor(r, layout, 1, kvLen, 2, 8, qkScale);
  return { r, q, k, v: tensor(r, layout, 1, kvLen, 2, 8) };
}

function tensor(
  random: () => number,
  layout: Layout,
  batch: number,
  seq: number,
  heads: number,
  headDim: number,
  scale = 1,
): HeadsTensor<Float32Array> {
  const n = batch * seq * heads * headDim;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (2 * random() - 1) * scale;
  return { data, shape: headsShape(layout, batch, seq, heads, headDim), layout };
}

/** Element (b, s, h, d) of a head tensor, in its layout. */
function at(x: HeadsTensor, b: number, s: number, h: number, d: number): number {
  const [, d1, d2, d3] = x.shape;
  return x.layout === "bshd" ? ((b * d1 + s) * d2 + h) * d3 + d : ((b * d1 + h) * d2 + s) * d3 + d;
}

function same(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

/**
 * The output matches the reference rounded to f32: NaN and ±∞ at exactly the same places, the finite
 * entries within `tolerance` of the largest finite reference magnitude (maxRelativeError's measure).
 */
function expectOutput(
  actual: ArrayLike<number>,
  reference: ArrayLike<number>,
  tolerance: number,
  label: string,
) {
  expect(actual.length, label).toBe(reference.length);
  let maxRef = 0;
  for (let i = 0; i < reference.length; i++) {
    const e = Math.fround(reference[i] as number);
    if (Number.isFinite(e)) maxRef = Math.max(maxRef, Math.abs(e));
  }
  let worst = 0;
  let where = -1;
  for (let i = 0; i < reference.length; i++) {
    const e = Math.fround(reference[i] as number);
    const a = actual[i] as number;
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      expect(same(a, e), `${label}[${i}]: ${a}, reference ${e}`).toBe(true);
      continue;
    }
    const error = Math.abs(a - e) / (maxRef || 1);
    if (error > worst) {
      worst = error;
      where = i;
    }
  }
  expect(worst, `${label}: worst at [${where}]`).toBeLessThanOrEqual(tolerance);
}

/** Every row's lse matches the reference's: non-finite exactly, finite within tolerance·max(1, |e|). */
function expectLse(
  actual: ArrayLike<number> | undefined,
  reference: ArrayLike<number>,
  tolerance: number,
  label: string,
) {
  expect(actual, `${label}: no lse`).toBeDefined();
  const a = actual as ArrayLike<number>;
  expect(a.length).toBe(reference.length);
  for (let i = 0; i < reference.length; i++) {
    const e = Math.fround(reference[i] as number);
    const x = a[i] as number;
    if (!Number.isFinite(e) || !Number.isFinite(x)) {
      expect(same(x, e), `${label} lse[${i}]: ${x}, reference ${e}`).toBe(true);
    } else {
      expect(Math.abs(x - e), `${label} lse[${i}]: ${x}, reference ${e}`).toBeLessThanOrEqual(
        tolerance * Math.max(1, Math.abs(e)),
      );
    }
  }
}

const reference = createReferenceBackend();

export interface ReliabilityOptions {
  name: string;
  create: () => Promise<Backend>;
  /** The tolerance the conformance suite holds this mode to. */
  tolerance: number;
  /** How many seeded random softcap calls to draw. */
  softcapCalls: number;
}

/** Attention on hard inputs (overflow, finite mask minima, NaN) against the f64 reference. */
export function describeReliability({ name, create, tolerance, softcapCalls }: ReliabilityOptions): void {
  describe(`${name}: attention on hard inputs matches the f64 reference (issue 12)`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await create();
    });
    afterAll(() => backend?.dispose());

    /**
     * Runs one call on gpujs and on the reference, checks the gpujs output and lse against the
     * reference's, and that gpujs left its inputs as they were. Returns both results.
     */
    async function check(
      label: string,
      q: HeadsTensor,
      k: HeadsTensor,
      v: HeadsTensor,
      options: AttentionOptions,
      /** The k and v the reference gets, when it must not see what gpujs is given (see the −∞ mask case). */
      referenceKV?: { k: HeadsTensor; v: HeadsTensor },
    ): Promise<{ got: AttentionResult; want: AttentionResult }> {
      const before = [q, k, v].map((x) => Float32Array.from(x.data));
      const maskBefore = options.mask ? Array.from(options.mask.data) : undefined;
      const got = await backend.attention(q, k, v, { ...options, returnLse: true });
      const want = await reference.attention(q, referenceKV?.k ?? k, referenceKV?.v ?? v, {
        ...options,
        returnLse: true,
      });
      [q, k, v].forEach((x, n) => {
        const copy = before[n] as Float32Array;
        for (let i = 0; i < copy.length; i++) {
          if (!same(x.data[i] as number, copy[i] as number))
            throw new Error(`${label}: input ${"qkv"[n]} changed at ${i}`);
        }
      });
      if (maskBefore)
        expect(Array.from(options.mask?.data ?? []), `${label}: mask changed`).toEqual(maskBefore);
      expect(got.output.shape).toEqual(want.output.shape);
      expect(got.output.layout).toBe(want.output.layout);
      expectOutput(got.output.data, want.output.data, tolerance, label);
      expectLse(got.lse, want.lse as ArrayLike<number>, tolerance, label);
      // Without returnLse the output is the same (the rows are repaired either way) and no lse comes back.
      const plain = await backend.attention(q, k, v, options);
      expect(plain.lse).toBeUndefined();
      expectOutput(plain.output.data, want.output.data, tolerance, `${label} (no returnLse)`);
      return { got, want };
    }

    describe("scores that overflow f32 from finite inputs", () => {
      it("q, k × 1e20: the reference's output, not NaN", async () => {
        const { q, k, v } = qkvOf(1, "bshd", 4, 6, 1e20);
        await check("q,k×1e20", q, k, v, {});
        await check("q,k×1e20 causal", q, k, v, { causal: true });
      });

      it("q, k × 1e30 with softcap 50: the capped scores, not NaN", async () => {
        const { q, k, v } = qkvOf(2, "bhsd", 5, 7, 1e30);
        const { got } = await check("q,k×1e30 softcap", q, k, v, { softcap: 50 });
        for (const x of got.output.data) expect(Number.isFinite(x)).toBe(true);
        await check("q,k×1e30 softcap, causal", q, k, v, { softcap: 50, causal: true });
      });

      it("scores near the top of the f32 range (q, k × 1e17) stay exact where they do not overflow", async () => {
        const { q, k, v } = qkvOf(3, "bshd", 3, 9, 1e17);
        await check("q,k×1e17", q, k, v, {});
      });

      it("v = 1e38 over 16 keys averages to 1e38, not Infinity", async () => {
        const r = rng(4);
        const q = tensor(r, "bshd", 1, 3, 2, 8);
        const k = tensor(r, "bshd", 1, 16, 2, 8);
        const v: HeadsTensor<Float32Array> = {
          data: new Float32Array(16 * 2 * 8).fill(1e38),
          shape: [1, 16, 2, 8],
          layout: "bshd",
        };
        const { got } = await check("v=1e38", q, k, v, {});
        for (const x of got.output.data) expect(Number.isFinite(x)).toBe(true);
        const signed = tensor(r, "bshd", 1, 16, 2, 8, 3e38);
        await check("v=±3e38", q, k, signed, { causal: true });
      });
    });

    describe("finite mask values are values, −∞ and false remove keys", () => {
      const { r, q, k, v } = qkvOf(5, "bshd", 4, 6);

      function mask(rows: number[][], type: "f32" | "f64" = "f32") {
        const flat = rows.flat();
        return {
          data: type === "f32" ? Float32Array.from(flat) : Float64Array.from(flat),
          shape: [1, 1, rows.length, (rows[0] as number[]).length] as [number, number, number, number],
        };
      }
      const m = F32_MIN;
      const rows = [
        [m, m, m, m, m, m], // only finfo.min: the uniform average, lse ≈ −3.4e38
        [0, m, 0, m, 0, m], // half the keys
        [m, m, m, m, m, 0], // one key
        [0, 0, 0, 0, 0, 0],
      ];

      it("torch.finfo(float32).min is HF's padding value: a row masked only by it averages, lse ≈ −3.4e38", async () => {
        const { got } = await check("finfo.min mask", q, k, v, { mask: mask(rows) });
        expect(got.lse?.[0]).toBeLessThan(-3e38);
        await check("finfo.min mask, f64", q, k, v, { mask: mask(rows, "f64") });
      });

      it("HF's causal padding mask: rows that see only padded keys", async () => {
        // Left padding of 2 (keys 0, 1) with a causal mask, both written as finfo.min as transformers does.
        const qq = tensor(r, "bhsd", 1, 6, 2, 8);
        const kk = tensor(r, "bhsd", 1, 6, 2, 8);
        const vv = tensor(r, "bhsd", 1, 6, 2, 8);
        const hf = Array.from({ length: 6 }, (_, i) =>
          Array.from({ length: 6 }, (_, j) => (j > i || j < 2 ? m : 0)),
        );
        await check("HF causal padding", qq, kk, vv, { mask: mask(hf) });
        await check("finfo.min padding and causal", qq, kk, vv, { mask: mask(hf), causal: true });
      });

      it("a large finite mask constant on a whole row does not cost the scores their precision", async () => {
        const big = rows.map((row) => row.map((x) => (x === m ? -1e9 : x)));
        await check("-1e9 mask", q, k, v, { mask: mask(big) });
        await check("-1e9 mask, f64", q, k, v, { mask: mask(big, "f64") });
        const up = rows.map((row) => row.map((x) => (x === m ? 1e30 : x)));
        await check("+1e30 mask", q, k, v, { mask: mask(up, "f64") });
      });

      it("−∞ and false still remove keys; a row with none left is zeros with lse −∞", async () => {
        const minf = Number.NEGATIVE_INFINITY;
        const removed = [
          [minf, minf, minf, minf, minf, minf],
          [0, minf, m, minf, 0, minf],
          [minf, m, minf, m, minf, m],
          [0, 0, 0, 0, 0, 0],
        ];
        const { got } = await check("-inf mask", q, k, v, { mask: mask(removed) });
        expect(got.lse?.[0]).toBe(Number.NEGATIVE_INFINITY);
        expect(Array.from(got.output.data.subarray(0, 8))).toEqual(new Array(8).fill(0));
        const booleanMask = {
          data: Uint8Array.from([0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]),
          shape: [1, 1, 4, 6] as [number, number, number, number],
        };
        await check("boolean mask", q, k, v, { mask: booleanMask });
      });
    });

    describe("NaN: a visible key's NaN poisons the row, a removed key's does nothing", () => {
      it("NaN in one q row: that row is NaN (output and lse), the others are right", async () => {
        const { r, q, k, v } = qkvOf(6, "bshd", 4, 6);
        q.data[at(q, 0, 2, 1, 3)] = Number.NaN;
        const { got } = await check("NaN q", q, k, v, {});
        expect(Number.isNaN(got.lse?.[1 * 4 + 2] as number)).toBe(true);
        const inf = tensor(r, "bshd", 1, 4, 2, 8);
        inf.data[at(inf, 0, 1, 0, 0)] = Number.POSITIVE_INFINITY;
        await check("+inf q", inf, k, v, { causal: true });
      });

      it("NaN in k at key j: the causal rows that see j are NaN, the earlier rows are right", async () => {
        const { q, k, v } = qkvOf(7, "bshd", 6, 6);
        k.data[at(k, 0, 3, 0, 5)] = Number.NaN;
        const { got } = await check("NaN k causal", q, k, v, { causal: true });
        expect(Number.isNaN(got.lse?.[3] as number)).toBe(true);
        expect(Number.isFinite(got.lse?.[2] as number)).toBe(true);
        await check("NaN k window", q, k, v, { causal: true, window: 2 });
        await check("NaN k full", q, k, v, {});
      });

      it("NaN and ∞ in the k and v of keys a mask removes contribute nothing", async () => {
        const { q, k, v } = qkvOf(8, "bshd", 4, 6);
        for (const d of [0, 4, 7]) {
          k.data[at(k, 0, 5, 0, d)] = Number.NaN;
          v.data[at(v, 0, 5, 0, d)] = Number.NaN;
          k.data[at(k, 0, 4, 1, d)] = Number.POSITIVE_INFINITY;
          v.data[at(v, 0, 4, 1, d)] = Number.NEGATIVE_INFINITY;
        }
        const padding = (value: number) => ({
          data: Float32Array.from({ length: 6 }, (_, j) => (j >= 4 ? value : 0)),
          shape: [1, 1, 1, 6] as [number, number, number, number],
        });
        // The keys a mask removes take no part: the result is the reference's with any finite values there.
        // (The reference is given those finite values rather than the NaN: its attentionScore adds an
        // additive −∞ to q·k, and NaN + −∞ is NaN, which contradicts its own rule that a removed key takes
        // no part — reported to core; a boolean mask, checked before q·k, shows the rule.)
        const clean = (x: HeadsTensor<Float32Array>) => {
          const data = x.data.slice();
          for (let h = 0; h < 2; h++) {
            for (let j = 4; j < 6; j++) for (let d = 0; d < 8; d++) data[at(x, 0, j, h, d)] = 0.5;
          }
          return { ...x, data };
        };
        const { got } = await check(
          "NaN under -inf mask",
          q,
          k,
          v,
          { mask: padding(Number.NEGATIVE_INFINITY) },
          { k: clean(k), v: clean(v) },
        );
        for (const x of got.output.data) expect(Number.isFinite(x)).toBe(true);
        await check("NaN under boolean mask", q, k, v, {
          mask: { data: Uint8Array.from([1, 1, 1, 1, 0, 0]), shape: [1, 1, 1, 6] },
        });
        // Keys beyond kvLength are not keys at all.
        await check("NaN beyond kvLength", q, k, v, { kvLength: 4 });
        // A finite mask value does not remove the key: NaN in its k makes the row NaN.
        await check("NaN under finfo.min mask", q, k, v, { mask: padding(F32_MIN) });
      });

      it("NaN or ∞ in the v of a visible key: the reference's NaN/∞ per channel", async () => {
        const { q, k, v } = qkvOf(9, "bhsd", 4, 5);
        v.data[at(v, 0, 2, 0, 1)] = Number.NaN;
        v.data[at(v, 0, 3, 1, 6)] = Number.POSITIVE_INFINITY;
        await check("NaN/inf v", q, k, v, {});
        await check("NaN/inf v causal", q, k, v, { causal: true });
      });

      it("NaN in an additive mask: the row is NaN where the key is visible, nothing where it is not", async () => {
        const { q, k, v } = qkvOf(10, "bshd", 4, 4);
        const data = new Float32Array(16);
        data[1 * 4 + 3] = Number.NaN; // row 1, key 3: outside row 1's causal range
        data[3 * 4 + 0] = Number.NaN; // row 3, key 0: visible
        const { got } = await check("NaN mask", q, k, v, {
          mask: { data, shape: [1, 1, 4, 4] },
          causal: true,
        });
        expect(Number.isFinite(got.lse?.[1] as number)).toBe(true);
        expect(Number.isNaN(got.lse?.[3] as number)).toBe(true);
      });

      it("with GQA, fused RoPE and ALiBi the same rules hold", async () => {
        const r = rng(11);
        const q = tensor(r, "bhsd", 2, 5, 4, 8);
        const k = tensor(r, "bhsd", 2, 7, 2, 8);
        const v = tensor(r, "bhsd", 2, 7, 2, 8);
        q.data[at(q, 1, 4, 3, 2)] = Number.NaN;
        k.data[at(k, 0, 6, 1, 0)] = Number.NaN;
        k.data[at(k, 1, 1, 0, 0)] = 3e37;
        const rope = {
          rope: {
            headDim: 8,
            rotaryDim: 8,
            base: 10000,
            pairing: "half",
            scaling: { type: "none" },
          } as const,
        };
        await check("GQA fused rope", q, k, v, {
          causal: true,
          rope,
          alibiSlopes: [0.5, 0.25, 0.125, 0.0625],
        });
        await check("GQA fused rope softcap", q, k, v, { rope, softcap: 30 });
      });
    });

    it("softcap: a few hundred seeded random calls stay within the declared tolerance", async () => {
      const r = rng(12);
      let worst = 0;
      const calls = softcapCalls;
      for (let call = 0; call < calls; call++) {
        const layout: Layout = r() < 0.5 ? "bshd" : "bhsd";
        const kvHeads = 1 + Math.floor(r() * 2);
        const qHeads = kvHeads * (1 + Math.floor(r() * 2));
        const headDim = 4 * (1 + Math.floor(r() * 4));
        const kvLen = 1 + Math.floor(r() * 24);
        const qLen = 1 + Math.floor(r() * Math.min(kvLen, 6));
        const amplitude = 0.5 + 4 * r();
        const q = tensor(r, layout, 1, qLen, qHeads, headDim, amplitude);
        const k = tensor(r, layout, 1, kvLen, kvHeads, headDim, amplitude);
        const v = tensor(r, layout, 1, kvLen, kvHeads, headDim);
        const softcap = [5, 20, 30, 50, 100, 500][Math.floor(r() * 6)] as number;
        const options: AttentionOptions = { softcap, causal: r() < 0.5, returnLse: true };
        const got = await backend.attention(q, k, v, options);
        const want = await reference.attention(q, k, v, options);
        let maxRef = 0;
        for (const x of want.output.data) maxRef = Math.max(maxRef, Math.abs(x));
        for (let i = 0; i < want.output.data.length; i++) {
          const error =
            Math.abs((got.output.data[i] as number) - (want.output.data[i] as number)) / (maxRef || 1);
          worst = Number.isNaN(error) ? Number.POSITIVE_INFINITY : Math.max(worst, error);
        }
        for (let i = 0; i < (want.lse?.length ?? 0); i++) {
          const e = want.lse?.[i] as number;
          const error = Math.abs((got.lse?.[i] as number) - e) / Math.max(1, Math.abs(e));
          worst = Number.isNaN(error) ? Number.POSITIVE_INFINITY : Math.max(worst, error);
        }
      }
      console.info(
        `[backend-gpujs] ${name}: softcap, worst relative error over ${calls} calls ${worst.toExponential(2)}`,
      );
      expect(worst).toBeLessThanOrEqual(tolerance);
    });
  });

  describe(`${name}: rmsNorm on hard rows matches the f64 reference`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await create();
    });
    afterAll(() => backend?.dispose());

    const dim = 16;
    // One row per case: GL has no reliable NaN or ∞ and flushes subnormals, f32 squares overflow past 1.8e19.
    // (Outputs below the normal f32 range, 1.2e-38, may be flushed to 0 on a GPU: no case makes them.)
    const rows: [string, (c: number) => number][] = [
      ["ordinary", (c) => Math.sin(c + 1)],
      ["NaN", (c) => (c === 3 ? Number.NaN : 1)],
      ["+∞", (c) => (c === 5 ? Number.POSITIVE_INFINITY : 0.5)],
      ["−∞ and NaN", (c) => (c === 0 ? Number.NEGATIVE_INFINITY : c === 9 ? Number.NaN : 2)],
      ["zeros", () => 0],
      ["subnormal", (c) => (c % 2 ? 1e-40 : -3e-42)],
      ["1e-30", (c) => 1e-30 * Math.cos(c)],
      ["1e30", (c) => 1e30 * Math.cos(c)],
      ["3e38", (c) => (c % 3 ? 3e38 : -3.4e38)],
      ["mixed 1e20 and 1e-20", (c) => (c === 7 ? 1e20 : 1e-20)],
    ];
    const x = () => ({
      data: Float32Array.from(rows.flatMap(([, f]) => Array.from({ length: dim }, (_, c) => f(c)))),
      shape: [1, rows.length, dim],
    });
    const weight = { data: Float32Array.from({ length: dim }, (_, c) => 0.5 + c / dim), shape: [dim] };

    for (const eps of [0, 1e-6, 1e4]) {
      for (const weightOffset of [0, 1] as const) {
        it(`eps ${eps}, weightOffset ${weightOffset}: every row, in place or not`, async () => {
          const input = x();
          const before = input.data.slice();
          const want = await reference.rmsNorm(input, weight, { eps, weightOffset });
          const got = await backend.rmsNorm(input, weight, { eps, weightOffset });
          expect(Array.from(input.data).every((v, i) => same(v, before[i] as number))).toBe(true);
          expect(got.shape).toEqual(want.shape);
          for (const [r, [label]] of rows.entries()) {
            const at = (t: ArrayLike<number>) => Array.from(t).slice(r * dim, (r + 1) * dim);
            expectOutput(at(got.data), at(want.data), tolerance, `row ${label}`);
          }
          const inPlace = x();
          const same2 = await backend.rmsNorm(inPlace, weight, { eps, weightOffset, inPlace: true });
          expect(same2.data).toBe(inPlace.data);
          for (const [r, [label]] of rows.entries()) {
            const at = (t: ArrayLike<number>) => Array.from(t).slice(r * dim, (r + 1) * dim);
            expectOutput(at(inPlace.data), at(want.data), tolerance, `row ${label}, in place`);
          }
          const plain = await backend.rmsNorm(x(), undefined, { eps });
          const plainWant = await reference.rmsNorm(x(), undefined, { eps });
          for (const [r, [label]] of rows.entries()) {
            const at = (t: ArrayLike<number>) => Array.from(t).slice(r * dim, (r + 1) * dim);
            expectOutput(at(plain.data), at(plainWant.data), tolerance, `row ${label}, no weight`);
          }
        });
      }
    }
  });

  describe(`${name}: applyRope keeps rows holding NaN or ±∞ as the reference has them`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await create();
    });
    afterAll(() => backend?.dispose());

    for (const layout of ["bshd", "bhsd"] as const) {
      for (const pairing of ["half", "interleaved"] as const) {
        it(`${layout}, ${pairing} pairing, partial rotary, forward and inverse, in place or not`, async () => {
          const spec = { headDim: 8, rotaryDim: 6, base: 10000, pairing, scaling: { type: "none" } } as const;
          const x = tensor(rng(13), layout, 2, 5, 3, 8);
          // Every row but these stays finite: the RoPE kernel must neither lose nor spread a NaN or ∞.
          x.data[at(x, 0, 1, 2, 0)] = Number.NaN;
          x.data[at(x, 1, 4, 0, 4)] = Number.POSITIVE_INFINITY;
          x.data[at(x, 1, 0, 1, 7)] = Number.NEGATIVE_INFINITY; // a pass-through channel
          x.data[at(x, 0, 3, 1, 2)] = Number.NaN;
          x.data[at(x, 0, 3, 1, 5)] = Number.POSITIVE_INFINITY;
          for (const inverse of [false, true]) {
            const options = { positions: 7, inverse };
            const want = await reference.applyRope(x, spec, options);
            const got = await backend.applyRope(x, spec, options);
            expectOutput(got.data, want.data, tolerance, `${layout} ${pairing} inverse ${inverse}`);
            const copy = { ...x, data: x.data.slice() };
            await backend.applyRope(copy, spec, { ...options, inPlace: true });
            expectOutput(copy.data, want.data, tolerance, `${layout} ${pairing} inverse ${inverse} in place`);
          }
          const qk = await backend.applyRopeQK(x, x, spec);
          const want = await reference.applyRope(x, spec);
          expectOutput(qk.q.data, want.data, tolerance, "applyRopeQK q");
          expectOutput(qk.k.data, want.data, tolerance, "applyRopeQK k");
        });
      }
    }
  });
}
