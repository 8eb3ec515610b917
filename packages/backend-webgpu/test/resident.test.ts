import {
  type Backend,
  type HeadsTensor,
  KVCache,
  MultiHeadAttention,
  type Tensor,
  createReferenceBackend,
  isRopekitError,
  ropeSpec,
  widenData,
} from "@ropekit/core";
import { describe, expect, it } from "vitest";
import { type WebgpuBackend, WebgpuTensor, createWebgpuBackend } from "../src/index.js";
import { measureWgsl } from "../src/resident-measure.js";
import { webgpuUnavailable, whenWebgpu } from "./availability.js";

const unavailable = await webgpuUnavailable();

/** Seeded values in [-1, 1) (mulberry32). */
function values(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

async function rejects(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (error) {
    if (!isRopekitError(error)) throw error;
    expect(error.code).toBe(code);
    return;
  }
  throw new Error(`expected a RopekitError ${code}`);
}

// Small RoPE → attention → linear shapes: 2 batch rows, 8 tokens, 4 query heads over 2 kv heads (GQA).
const B = 2;
const S = 8;
const HQ = 4;
const HK = 2;
const D = 32;
const OUT = 24;
const spec = ropeSpec({ headDim: D, base: 10000 });
const qData = values(B * S * HQ * D, 1);
const kData = values(B * S * HK * D, 2);
const vData = values(B * S * HK * D, 3);
const wData = values(OUT * D, 4);
const bData = values(OUT, 5);
const host = (data: Float32Array, heads: number): HeadsTensor => ({
  data: data.slice(),
  shape: [B, S, heads, D],
  layout: "bshd",
});

/** The chain on host arrays through any backend. */
async function hostChain(backend: Backend, options: { sinks?: number[] } = {}): Promise<Float32Array> {
  const r = await backend.applyRopeQK(host(qData, HQ), host(kData, HK), spec, { positions: 0 });
  const { output } = await backend.attention(r.q, r.k, host(vData, HK), { causal: true, ...options });
  const y = await backend.linear(output, { data: wData, shape: [OUT, D] }, { data: bData, shape: [OUT] });
  return Float32Array.from(y.data);
}

whenWebgpu("resident tensors, Node + Dawn", unavailable, () => {
  describe("resident tensors", () => {
    it("RoPE(q, k) → attention → linear stays on the GPU: equal to the host chain and the f64 reference, one tensor read", async () => {
      const backend = await createWebgpuBackend();
      try {
        const expectedHost = await hostChain(backend);
        const reference = await hostChain(createReferenceBackend());
        const q = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        const k = await backend.tensor({ data: kData, shape: [B, S, HK, D], layout: "bshd" });
        const v = await backend.tensor({ data: vData, shape: [B, S, HK, D], layout: "bshd" });
        const w = await backend.tensor({ data: wData, shape: [OUT, D] });
        const before = backend.stats;
        const r = await backend.applyRopeQK(q, k, spec, { positions: 0, inPlace: true });
        // In place: the same tensors, their buffers rotated.
        expect(r.q).toBe(q);
        expect(r.k).toBe(k);
        const { output } = await backend.attention(r.q, r.k, v, { causal: true });
        expect(output).toBeInstanceOf(WebgpuTensor);
        expect(output.shape).toEqual([B, S, HQ, D]);
        const y = await backend.linear(output, w, { data: bData, shape: [OUT] });
        expect(y).toBeInstanceOf(WebgpuTensor);
        expect(y.shape).toEqual([B, S, HQ, OUT]);
        const afterChain = backend.stats;
        const got = await y.read();
        const after = backend.stats;
        // Nothing of size read back before read(): only attention's per-row metadata — the guard's
        // measures (4 bytes per q, k and v head row) and the lse (4 bytes per query row).
        expect(afterChain.tensorReads - before.tensorReads).toBe(0);
        const qRows = B * HQ * S;
        const kvRows = B * HK * S;
        expect(afterChain.readbackBytes - before.readbackBytes).toBe(4 * (qRows + 2 * kvRows) + 4 * qRows);
        expect(afterChain.readbacks - before.readbacks).toBe(4);
        // read(): the one tensor readback.
        expect(after.tensorReads - afterChain.tensorReads).toBe(1);
        expect(after.readbackBytes - afterChain.readbackBytes).toBe(B * S * HQ * OUT * 4);
        expect(got).toBeInstanceOf(Float32Array);
        expect(maxDiff(got, expectedHost)).toBeLessThanOrEqual(1e-5);
        expect(maxDiff(got, reference)).toBeLessThanOrEqual(1e-4);
        // The host chain reads every intermediate back: far more bytes.
        const hostBefore = backend.stats;
        await hostChain(backend);
        const hostBytes = backend.stats.readbackBytes - hostBefore.readbackBytes;
        expect(hostBytes).toBeGreaterThan((qData.length + kData.length) * 4);
        for (const t of [q, k, v, w, output, y]) t.dispose();
      } finally {
        backend.dispose();
      }
    });

    it("fused RoPE in attention on resident q, k: the rotated copies are released, the inputs untouched", async () => {
      const backend = await createWebgpuBackend();
      try {
        const q = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        const k = await backend.tensor({ data: kData, shape: [B, S, HK, D], layout: "bshd" });
        const v = await backend.tensor({ data: vData, shape: [B, S, HK, D], layout: "bshd" });
        const fused = await backend.attention(q, k, v, { causal: true, rope: { rope: spec } });
        const plain = await backend.attention(host(qData, HQ), host(kData, HK), host(vData, HK), {
          causal: true,
          rope: { rope: spec },
        });
        expect(maxDiff(await fused.output.read(), plain.output.data)).toBeLessThanOrEqual(1e-6);
        expect(await q.read()).toEqual(qData);
        expect(await k.read()).toEqual(kData);
      } finally {
        backend.dispose();
      }
    });

    it("read() gives each dtype's array: f32 values, float16 / bfloat16 bits (odd lengths too)", async () => {
      const backend = await createWebgpuBackend();
      try {
        const f = await backend.tensor({ data: new Float32Array([1.5, -2, 3e-8]), shape: [3] });
        expect(f.dtype).toBe("float32");
        const fr = await f.read();
        expect(fr).toBeInstanceOf(Float32Array);
        expect(Array.from(fr)).toEqual([1.5, -2, Math.fround(3e-8)]);
        for (const dtype of ["float16", "bfloat16"] as const) {
          const bits = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000]);
          const h = await backend.tensor({ data: bits, shape: [5], dtype });
          expect(h.dtype).toBe(dtype);
          const hr = await h.read();
          expect(hr).toBeInstanceOf(Uint16Array);
          expect(Array.from(hr)).toEqual(Array.from(bits));
        }
        const zeros = await backend.tensor({ shape: [2, 3], dtype: "bfloat16" });
        expect(Array.from(await zeros.read())).toEqual([0, 0, 0, 0, 0, 0]);
        await rejects(backend.tensor({ data: new Uint16Array(2), shape: [2] }), "INVALID_DTYPE");
        await rejects(backend.tensor({ data: new Float32Array(5), shape: [2, 3] }), "INVALID_SHAPE");
        await rejects(
          backend.tensor({ data: new Float32Array(4), shape: [1, 1, 1, 4], layout: "bsdh" as never }),
          "INVALID_LAYOUT",
        );
      } finally {
        backend.dispose();
      }
    });

    it("write() checks the array against the tensor's dtype: INVALID_DTYPE, the buffer unchanged", async () => {
      const backend = await createWebgpuBackend();
      try {
        const bits = Uint16Array.from([0x3c00, 0x4000, 0xc000, 0x3800]); // 1, 2, −2, 0.5
        const half = await backend.tensor({ data: bits, shape: [4], dtype: "float16" });
        await rejects(half.data.write(Float32Array.from([1, 2, 3, 4])), "INVALID_DTYPE");
        expect(Array.from(await half.read())).toEqual(Array.from(bits));
        const single = await backend.tensor({ data: Float32Array.from([1, 2, 3, 4]), shape: [4] });
        await rejects(single.data.write(Uint16Array.from([1, 2, 3, 4])), "INVALID_DTYPE");
        await single.data.write(Float32Array.from([5, 6, 7, 8]));
        expect(Array.from(await single.read())).toEqual([5, 6, 7, 8]);
        await half.data.write(Uint16Array.from([0x3800, 0x3800, 0x3800, 0x3800]));
        expect(Array.from(await half.read())).toEqual([0x3800, 0x3800, 0x3800, 0x3800]);
      } finally {
        backend.dispose();
      }
    });

    it("half ±∞ and NaN are found from their raw bits, not decoded values: rmsNorm rows go to the host path as on host data", async () => {
      // WGSL may assume unpack2x16float sees finite values, so the measure must test the stored bits.
      expect(measureWgsl("float16")).toMatch(/half_bits\(base \+ c\) & 0x7c00u\) == 0x7c00u/);
      expect(measureWgsl("bfloat16")).toMatch(/half_bits\(base \+ c\) & 0x7f80u\) == 0x7f80u/);
      expect(measureWgsl("float32")).not.toMatch(/half_bits/);
      const backend = await createWebgpuBackend();
      try {
        const cases = {
          float16: { one: 0x3c00, specials: [0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe00] },
          bfloat16: { one: 0x3f80, specials: [0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffc0] },
        } as const;
        for (const [dtype, { one, specials }] of Object.entries(cases) as [
          "float16" | "bfloat16",
          (typeof cases)["float16"],
        ][]) {
          for (const [i, special] of specials.entries()) {
            const bits = new Uint16Array(6 * 16);
            for (let j = 0; j < bits.length; j++) bits[j] = one + (j % 7);
            bits[16 + 2 * i + (i % 2)] = special; // row 1, at an even or an odd element
            const t = { data: bits, shape: [6, 16], dtype };
            const want = await backend.rmsNorm(t);
            const reads = backend.stats.tensorReads;
            const got = await backend.rmsNorm(await backend.tensor(t));
            expect(backend.stats.tensorReads - reads, `${dtype} ${special.toString(16)}`).toBeGreaterThan(0);
            expect(Array.from((await got.read()) as Uint16Array)).toEqual(
              Array.from(want.data as Uint16Array),
            );
          }
        }
      } finally {
        backend.dispose();
      }
    });

    it("MultiHeadAttention and KVCache refuse resident tensors (WRONG_BACKEND) and leave no GPU buffer behind", async () => {
      const backend = await createWebgpuBackend();
      try {
        const hidden = HQ * D;
        const weight = () => ({ data: values(hidden * hidden, 6), shape: [hidden, hidden] });
        const mha = new MultiHeadAttention(backend, {
          hiddenSize: hidden,
          numHeads: HQ,
          weights: { q: weight(), k: weight(), v: weight(), o: weight() },
        });
        const x = await backend.tensor({ data: values(S * hidden, 7), shape: [1, S, hidden] });
        const before = backend.stats;
        const refused = mha.forward(x as never);
        await expect(refused).rejects.toThrow(/MultiHeadAttention takes host arrays/);
        await rejects(mha.forward(x as never), "WRONG_BACKEND");
        expect(backend.stats.buffersCreated).toBe(before.buffersCreated);
        const cache = new KVCache({ batch: B, kvHeads: HK, headDim: D });
        const k = await backend.tensor({ data: kData, shape: [B, S, HK, D], layout: "bshd" });
        expect(() => cache.append(k as never, host(vData, HK))).toThrow(/lives on backend webgpu/);
        expect(cache.length).toBe(0);
        const residentWeight = await backend.tensor({
          data: values(hidden * hidden, 8),
          shape: [hidden, hidden],
        });
        expect(
          () =>
            new MultiHeadAttention(backend, {
              hiddenSize: hidden,
              numHeads: HQ,
              weights: { q: residentWeight as never, k: weight(), v: weight(), o: weight() },
            }),
        ).toThrow(/MultiHeadAttention takes host arrays/);
      } finally {
        backend.dispose();
      }
    });

    it("dispose: DISPOSED after, twice is a no-op, a call in flight keeps its buffers, backend.dispose() releases all", async () => {
      const backend = await createWebgpuBackend();
      const q = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
      const k = await backend.tensor({ data: kData, shape: [B, S, HK, D], layout: "bshd" });
      const v = await backend.tensor({ data: vData, shape: [B, S, HK, D], layout: "bshd" });
      const expected = await backend.attention(host(qData, HQ), host(kData, HK), host(vData, HK));
      // Disposed while the call runs: the call completes with the right values.
      const inFlight = backend.attention(q, k, v);
      q.dispose();
      k.dispose();
      q.dispose(); // twice: nothing
      const { output } = await inFlight;
      expect(maxDiff(await output.read(), expected.output.data)).toBeLessThanOrEqual(1e-6);
      expect(q.disposed).toBe(true);
      await rejects(q.read(), "DISPOSED");
      await rejects(backend.attention(q, v, v), "DISPOSED");
      await rejects(backend.applyRope(k, spec, { positions: 0 }), "DISPOSED");
      // The raw data of a disposed tensor is refused by core's planning too.
      await rejects(
        backend.applyRope({ data: q.data, shape: q.shape, layout: "bshd" } as never, spec),
        "DISPOSED",
      );
      backend.dispose();
      expect(v.disposed).toBe(true);
      expect(output.disposed).toBe(true);
      await rejects(v.read(), "DISPOSED");
      await rejects(backend.tensor({ shape: [4] }), "DISPOSED");
    });

    it("a resident tensor given to another backend raises WRONG_BACKEND", async () => {
      const backend = await createWebgpuBackend();
      const other = await createWebgpuBackend();
      try {
        const x = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        const reference = createReferenceBackend();
        await rejects(reference.applyRope(x as never, spec, { positions: 0 }), "WRONG_BACKEND");
        await rejects(reference.linear(x as never, { data: wData, shape: [OUT, D] }), "WRONG_BACKEND");
        await rejects(other.applyRope(x, spec, { positions: 0 }), "WRONG_BACKEND");
        // Unchanged by the refused calls.
        expect(await x.read()).toEqual(qData);
        // Disposed while another backend's call holds it: its own store still destroys its buffer.
        const y = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        let destroyed = 0;
        const buffer = y.data.buffer;
        const destroy = buffer.destroy.bind(buffer);
        buffer.destroy = () => {
          destroyed++;
          destroy();
        };
        const refused = other.applyRope(y, spec, { positions: 0 });
        y.dispose();
        await rejects(refused, "WRONG_BACKEND");
        expect(destroyed).toBe(1);
        expect(y.data.users).toBe(0);
      } finally {
        backend.dispose();
        other.dispose();
      }
    });

    it("bad shapes and options raise core's errors before anything is written", async () => {
      const backend = await createWebgpuBackend();
      try {
        const x = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        const k3 = await backend.tensor({
          data: values(B * S * 3 * D, 9),
          shape: [B, S, 3, D],
          layout: "bshd",
        });
        await rejects(
          backend.applyRope(x, ropeSpec({ headDim: 16 }), { positions: 0, inPlace: true }),
          "INVALID_SHAPE",
        );
        await rejects(backend.applyRope(x, spec, { positions: -1, inPlace: true }), "INVALID_POSITIONS");
        await rejects(backend.attention(x, k3, k3), "INVALID_SHAPE");
        // Data of the wrong length for the shape it is given with.
        await rejects(
          backend.applyRope({ data: x.data, shape: [B, S, HQ, 16], layout: "bshd" } as never, spec),
          "INVALID_SHAPE",
        );
        await rejects(backend.linear(x, { data: wData, shape: [OUT, D + 1] }), "INVALID_SHAPE");
        // Masks are read on the CPU: a resident mask is refused by name.
        const mask = await backend.tensor({ data: new Float32Array(S * S), shape: [1, 1, S, S] });
        await rejects(backend.attention(x, k3, k3, { mask: mask as never }), "INVALID_SHAPE");
        const k = await backend.tensor({ data: kData, shape: [B, S, HK, D], layout: "bshd" });
        await rejects(backend.attention(x, k, k, { mask: mask as never }), "INVALID_OPTION");
        expect(await x.read()).toEqual(qData);
      } finally {
        backend.dispose();
      }
    });

    it("host steps read back explicitly: sinks, rows core repairs in f64, rmsNorm rows for the f64 path", async () => {
      const backend = await createWebgpuBackend();
      try {
        const reference = createReferenceBackend();
        const sinks = [0.5, -1, 2, 0];
        // Sinks are applied from the lse on the host: q, k, v and the output are read and written back.
        const q = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        const k = await backend.tensor({ data: kData, shape: [B, S, HK, D], layout: "bshd" });
        const v = await backend.tensor({ data: vData, shape: [B, S, HK, D], layout: "bshd" });
        const before = backend.stats.tensorReads;
        const sunk = await backend.attention(q, k, v, { causal: true, sinks });
        expect(backend.stats.tensorReads - before).toBeGreaterThan(0);
        const want = await reference.attention(host(qData, HQ), host(kData, HK), host(vData, HK), {
          causal: true,
          sinks,
        });
        expect(maxDiff(await sunk.output.read(), want.output.data)).toBeLessThanOrEqual(1e-5);

        // A row whose |q|·|k| bound passes the guard's (finite values): the GPU computes the rest, core
        // reads q, k, v and the output back, recomputes that row in f64 and writes it back.
        const hotQ = qData.slice();
        hotQ[5 * D] = 1e20;
        const hotK = kData.slice();
        hotK[2 * D + 1] = 1e20;
        const hq = await backend.tensor({ data: hotQ, shape: [B, S, HQ, D], layout: "bshd" });
        const hk = await backend.tensor({ data: hotK, shape: [B, S, HK, D], layout: "bshd" });
        const reads = backend.stats.tensorReads;
        const repaired = await backend.attention(hq, hk, v, { causal: true, returnLse: true });
        expect(backend.stats.tensorReads - reads).toBe(4); // q, k, v, output
        const want2 = await reference.attention(
          { data: hotQ.slice(), shape: [B, S, HQ, D], layout: "bshd" },
          { data: hotK.slice(), shape: [B, S, HK, D], layout: "bshd" },
          host(vData, HK),
          { causal: true, returnLse: true },
        );
        expect(maxDiff(await repaired.output.read(), want2.output.data)).toBeLessThanOrEqual(1e-5);
        const lse = Array.from(repaired.lse ?? []);
        expect(lse.every(Number.isFinite)).toBe(true);

        // A NaN in v: the guard must zero it in the GPU's copy, so the inputs are read back and the host
        // path runs; the result is the host path's.
        const nanV = vData.slice();
        nanV[3 * HK * D + 7] = Number.NaN;
        const hv = await backend.tensor({ data: nanV, shape: [B, S, HK, D], layout: "bshd" });
        const withNaN = await backend.attention(q, k, hv, { causal: true, returnLse: true });
        const hostRun = await backend.attention(
          host(qData, HQ),
          host(kData, HK),
          { data: nanV.slice(), shape: [B, S, HK, D], layout: "bshd" },
          { causal: true, returnLse: true },
        );
        const got = await withNaN.output.read();
        expect(Array.from(got).map(Number.isNaN)).toEqual(Array.from(hostRun.output.data).map(Number.isNaN));
        expect(Array.from(got).some(Number.isNaN)).toBe(true);
        const finite = (a: ArrayLike<number>) => Array.from(a).map((x) => (Number.isNaN(x) ? 0 : x));
        expect(maxDiff(finite(got), finite(hostRun.output.data))).toBeLessThanOrEqual(1e-6);
        expect(Array.from(withNaN.lse ?? [])).toEqual(Array.from(hostRun.lse ?? []));

        // rmsNorm on a resident tensor: on the GPU (4 bytes per row measured), in place too.
        const x = await backend.tensor({ data: qData, shape: [B * S, HQ * D] });
        const g = await backend.tensor({ data: bData.subarray(0, 16), shape: [16] });
        const normReads = backend.stats.tensorReads;
        const normed = await backend.rmsNorm(x, undefined, { eps: 1e-6 });
        expect(normed).toBeInstanceOf(WebgpuTensor);
        const x16 = await backend.tensor({ data: qData.subarray(0, 64), shape: [4, 16] });
        const weighted = await backend.rmsNorm(x16, g, { eps: 1e-6, weightOffset: 1 });
        expect(backend.stats.tensorReads - normReads).toBe(0);
        const hostNorm = await backend.rmsNorm({ data: qData.slice(), shape: [B * S, HQ * D] }, undefined, {
          eps: 1e-6,
        });
        expect(maxDiff(await normed.read(), hostNorm.data)).toBe(0);
        const hostWeighted = await backend.rmsNorm(
          { data: qData.slice(0, 64), shape: [4, 16] },
          { data: bData.slice(0, 16), shape: [16] },
          { eps: 1e-6, weightOffset: 1 },
        );
        expect(maxDiff(await weighted.read(), hostWeighted.data)).toBe(0);
        const same = await backend.rmsNorm(x, undefined, { eps: 1e-6, inPlace: true });
        expect(same).toBe(x);
        expect(maxDiff(await x.read(), hostNorm.data)).toBe(0);
        // A zero row with eps 0 (0/0 in f64) and a row with ∞: the host kernel's f64 path, explicitly.
        const odd = qData.slice(0, 64);
        odd.fill(0, 0, 16);
        odd[20] = Number.POSITIVE_INFINITY;
        const xo = await backend.tensor({ data: odd, shape: [4, 16] });
        const oddReads = backend.stats.tensorReads;
        const normedOdd = await backend.rmsNorm(xo, undefined, { eps: 0 });
        expect(backend.stats.tensorReads - oddReads).toBe(1);
        const hostOdd = await backend.rmsNorm({ data: odd.slice(), shape: [4, 16] }, undefined, { eps: 0 });
        const gotOdd = await normedOdd.read();
        expect(Array.from(gotOdd).map(Number.isNaN)).toEqual(Array.from(hostOdd.data).map(Number.isNaN));
        expect(Array.from(gotOdd).some(Number.isNaN)).toBe(true);
        expect(
          maxDiff(
            gotOdd.map((v) => (Number.isNaN(v) ? 0 : v)),
            hostOdd.data.map((v) => (Number.isNaN(v) ? 0 : v)),
          ),
        ).toBe(0);
      } finally {
        backend.dispose();
      }
    });

    it("concurrent calls on the same tensors; scratch, parameter and staging buffers reused across calls", async () => {
      const backend = await createWebgpuBackend();
      try {
        const q = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        const k = await backend.tensor({ data: kData, shape: [B, S, HK, D], layout: "bshd" });
        const v = await backend.tensor({ data: vData, shape: [B, S, HK, D], layout: "bshd" });
        const want = await backend.attention(host(qData, HQ), host(kData, HK), host(vData, HK), {
          causal: true,
        });
        const calls = Array.from({ length: 12 }, () => backend.attention(q, k, v, { causal: true }));
        // Disposed while twelve calls use them: every call still completes on the right values.
        q.dispose();
        k.dispose();
        for (const { output } of await Promise.all(calls)) {
          expect(maxDiff(await output.read(), want.output.data)).toBeLessThanOrEqual(1e-6);
          output.dispose();
        }
        await rejects(backend.attention(q, k, v), "DISPOSED");
        // The same call twice: the second creates no scratch, parameter or staging buffer.
        const x = { data: qData.slice(), shape: [B * S * HQ, D] };
        await backend.linear(x, { data: wData, shape: [OUT, D] });
        const before = backend.stats;
        await backend.linear(x, { data: wData, shape: [OUT, D] });
        const after = backend.stats;
        expect(after.buffersCreated).toBe(before.buffersCreated);
        expect(after.buffersReused).toBeGreaterThan(before.buffersReused);
      } finally {
        backend.dispose();
      }
    });

    it("halves stay on the GPU: float16 RoPE, a bfloat16 KV cache under f32 attention, bfloat16 weights and float16 linear", async () => {
      const backend = await createWebgpuBackend();
      try {
        const bits = (data: Float32Array, dtype: "float16" | "bfloat16") => {
          const out = new Uint16Array(data.length);
          const f = new Float32Array(1);
          const u = new Uint32Array(f.buffer);
          for (let i = 0; i < data.length; i++) {
            f[0] = data[i] as number;
            // bfloat16: truncated (any bits do); float16: a value in [-1, 1) scaled into the normal range.
            out[i] =
              dtype === "bfloat16"
                ? (u[0] as number) >>> 16
                : 0x3800 + Math.floor(((data[i] as number) + 1) * 1000);
          }
          return out;
        };
        const kb = bits(kData, "bfloat16");
        const vb = bits(vData, "bfloat16");
        const qh = bits(qData, "float16");
        const reads = backend.stats.tensorReads;
        // float16 RoPE in place: the tensor's own buffer, bits as the host path makes them.
        const x = await backend.tensor({ data: qh, shape: [B, S, HQ, D], layout: "bshd", dtype: "float16" });
        const rotated = await backend.applyRope(x, spec, { positions: 2, inPlace: true });
        expect(rotated).toBe(x);
        const hostRot = await backend.applyRope(
          { data: qh.slice(), shape: [B, S, HQ, D], layout: "bshd", dtype: "float16" },
          spec,
          {
            positions: 2,
          },
        );
        // A bfloat16 KV cache with f32 q.
        const q = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        const k = await backend.tensor({ data: kb, shape: [B, S, HK, D], layout: "bshd", dtype: "bfloat16" });
        const v = await backend.tensor({ data: vb, shape: [B, S, HK, D], layout: "bshd", dtype: "bfloat16" });
        const { output } = await backend.attention(q, k, v, { causal: true });
        const hostAtt = await backend.attention(
          host(qData, HQ),
          { data: kb.slice(), shape: [B, S, HK, D], layout: "bshd", dtype: "bfloat16" },
          { data: vb.slice(), shape: [B, S, HK, D], layout: "bshd", dtype: "bfloat16" },
          { causal: true },
        );
        // bfloat16 weights with f32 x; float16 x (and output) with bfloat16 weights.
        const wb = bits(wData, "bfloat16");
        const w = await backend.tensor({ data: wb, shape: [OUT, D], dtype: "bfloat16" });
        const y = await backend.linear(output, w);
        const y16 = await backend.linear(x, w);
        expect(y16.dtype).toBe("float16");
        const n16 = await backend.rmsNorm(x, undefined, { eps: 1e-5 });
        expect(backend.stats.tensorReads).toBe(reads);
        const hostN16 = await backend.rmsNorm(hostRot, undefined, { eps: 1e-5 });
        expect(Array.from(await n16.read())).toEqual(Array.from(hostN16.data));
        expect(Array.from(await x.read())).toEqual(Array.from(hostRot.data));
        expect(maxDiff(await output.read(), hostAtt.output.data)).toBe(0);
        const wHost = { data: wb.slice(), shape: [OUT, D], dtype: "bfloat16" as const };
        const hostY = await backend.linear(hostAtt.output, wHost);
        expect(maxDiff(await y.read(), hostY.data)).toBe(0);
        const hostY16 = await backend.linear(hostRot, wHost);
        expect(Array.from(await y16.read())).toEqual(Array.from(hostY16.data));
      } finally {
        backend.dispose();
      }
    });

    it("past the binding limit: TOO_LARGE; a lost device: BACKEND_UNAVAILABLE from ops and read(), never a hang", async () => {
      const small = await createWebgpuBackend({ maxBindingElements: 256 });
      try {
        await rejects(small.tensor({ shape: [257] }), "TOO_LARGE");
        expect((await small.tensor({ shape: [256] })).length).toBe(256);
        // A half tensor fits in half the bytes, but rmsNorm's f32 scratch would not: the host path.
        const bits = new Uint16Array(400);
        for (let i = 0; i < bits.length; i++) bits[i] = 0x3c00 + ((i * 37) % 512); // 1 .. 1.5, varied
        const half = await small.tensor({ data: bits, shape: [25, 16], dtype: "float16" });
        const want = await small.rmsNorm({ data: bits, shape: [25, 16], dtype: "float16" });
        const got = await small.rmsNorm(half);
        expect(got).toBeInstanceOf(WebgpuTensor);
        expect(Array.from((await got.read()) as Uint16Array)).toEqual(Array.from(want.data as Uint16Array));
        const f64 = await createReferenceBackend().rmsNorm({ data: bits, shape: [25, 16], dtype: "float16" });
        expect(
          maxDiff(widenData(want.data, "float16", "float64"), widenData(f64.data, "float16", "float64")),
        ).toBeLessThan(2e-3);
      } finally {
        small.dispose();
      }
      // A GPU object whose device the test can destroy: a driver reset, as far as the backend can tell.
      const { create } = (await import("webgpu")) as { create(options: string[]): GPU };
      const real = create([]);
      let device: GPUDevice | undefined;
      const gpu = {
        async requestAdapter(options?: GPURequestAdapterOptions) {
          const adapter = await real.requestAdapter(options);
          if (!adapter) return adapter;
          return new Proxy(adapter, {
            get(target, key) {
              if (key === "requestDevice") {
                return async (d?: GPUDeviceDescriptor) => {
                  device = await target.requestDevice(d);
                  return device;
                };
              }
              const value = Reflect.get(target, key, target) as unknown;
              return typeof value === "function"
                ? (value as (...a: unknown[]) => unknown).bind(target)
                : value;
            },
          });
        },
        getPreferredCanvasFormat: () => real.getPreferredCanvasFormat(),
        wgslLanguageFeatures: real.wgslLanguageFeatures,
      } as unknown as GPU;
      const backend = await createWebgpuBackend({ gpu });
      try {
        const x = await backend.tensor({ data: qData, shape: [B, S, HQ, D], layout: "bshd" });
        expect(device).toBeDefined();
        device?.destroy();
        await new Promise((r) => setTimeout(r, 50));
        await rejects(x.read(), "BACKEND_UNAVAILABLE");
        await rejects(backend.applyRope(x, spec, { positions: 0 }), "BACKEND_UNAVAILABLE");
        await rejects(backend.tensor({ shape: [4] }), "BACKEND_UNAVAILABLE");
      } finally {
        backend.dispose();
      }
    });

    it("host inputs with resident K/V give host outputs; non-inplace RoPE leaves its input alone", async () => {
      const backend = await createWebgpuBackend();
      try {
        const k = await backend.tensor({ data: kData, shape: [B, S, HK, D], layout: "bshd" });
        const v = await backend.tensor({ data: vData, shape: [B, S, HK, D], layout: "bshd" });
        const reads = backend.stats.tensorReads;
        const out = await backend.attention(host(qData, HQ), k, v, { causal: true });
        expect(out.output.data).toBeInstanceOf(Float32Array);
        // The KV cache is not read back: only the output is.
        expect(backend.stats.tensorReads - reads).toBe(1);
        // Resident weights with host activations: the weights stay put, the output comes back.
        const w = await backend.tensor({ data: wData, shape: [OUT, D] });
        const x = { data: qData.slice(), shape: [B * S * HQ, D] };
        const y = await backend.linear(x, w, { data: bData, shape: [OUT] });
        expect(y.data).toBeInstanceOf(Float32Array);
        expect(backend.stats.tensorReads - reads).toBe(2);
        const hostY = await backend.linear(
          x,
          { data: wData, shape: [OUT, D] },
          { data: bData, shape: [OUT] },
        );
        expect(maxDiff(y.data, hostY.data)).toBe(0);
        const want = await backend.attention(host(qData, HQ), host(kData, HK), host(vData, HK), {
          causal: true,
        });
        expect(maxDiff(out.output.data, want.output.data)).toBeLessThanOrEqual(1e-6);
        const rotated = await backend.applyRope(k, spec, { positions: 3 });
        expect(rotated).not.toBe(k);
        expect(await k.read()).toEqual(kData);
        const hostRot = await backend.applyRope(host(kData, HK), spec, { positions: 3 });
        expect(maxDiff(await rotated.read(), hostRot.data)).toBe(0);
      } finally {
        backend.dispose();
      }
    });
  });
});

/** Keeps the type import used when the suite is skipped. */
export type { Tensor, WebgpuBackend };
