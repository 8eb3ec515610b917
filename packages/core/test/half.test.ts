// The float16 / bfloat16 converters against PyTorch's own rounding (golden/half-rounding.json, made by
// scripts/half/generate.py), plus the dtype rules tensors follow.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import {
  bfloat16Bits,
  bfloat16Value,
  convertTensor,
  createReferenceBackend,
  decodeHalf,
  dtypeOf,
  encodeHalf,
  float16Bits,
  float16Value,
  roundToDtype,
  tensorDtype,
} from "../src/index.js";

interface Fixture {
  readonly torch: string;
  /** [f32 bits, torch float16 bits, torch bfloat16 bits] */
  readonly cases: readonly (readonly [number, number, number])[];
  /** [16-bit pattern, torch's float16 value as f32 bits, torch's bfloat16 value as f32 bits] */
  readonly decode: readonly (readonly [number, number, number])[];
}

const fixture = JSON.parse(
  readFileSync(new URL("./golden/half-rounding.json", import.meta.url), "utf8"),
) as Fixture;

const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0] as number;
const isNaN16 = (bits: number) => (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
const isNaNbf = (bits: number) => (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;
const hex = (n: number) => `0x${n.toString(16)}`;

describe(`float16 / bfloat16 rounding matches torch ${fixture.torch}`, () => {
  it("has the edge cases and random inputs", () => {
    expect(fixture.cases.length).toBeGreaterThan(5000);
    expect(fixture.decode.length).toBeGreaterThan(2000);
  });

  it("float16Bits: every input rounds to torch's bits (NaN to a NaN)", () => {
    const wrong: string[] = [];
    for (const [bits, want] of fixture.cases) {
      const got = float16Bits(f32(bits));
      const ok = isNaN16(want) ? isNaN16(got) : got === want;
      if (!ok) wrong.push(`${hex(bits)} → ${hex(got)}, torch ${hex(want)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("bfloat16Bits: every input rounds to torch's bits (NaN to a NaN)", () => {
    const wrong: string[] = [];
    for (const [bits, , want] of fixture.cases) {
      const got = bfloat16Bits(f32(bits));
      const ok = isNaNbf(want) ? isNaNbf(got) : got === want;
      if (!ok) wrong.push(`${hex(bits)} → ${hex(got)}, torch ${hex(want)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("encodeHalf on a Float32Array gives the scalar results", () => {
    const values = new Float32Array(new Uint32Array(fixture.cases.map((c) => c[0])).buffer);
    const h = encodeHalf(values, "float16");
    const b = encodeHalf(values, "bfloat16");
    expect(Array.from(h)).toEqual(Array.from(values, (x) => float16Bits(x)));
    expect(Array.from(b)).toEqual(Array.from(values, (x) => bfloat16Bits(x)));
  });

  it("decoding gives torch's float32 value of every pattern", () => {
    const wrong: string[] = [];
    for (const [pattern, v16, vbf] of fixture.decode) {
      const a = float16Value(pattern);
      const b = bfloat16Value(pattern);
      const okA = Number.isNaN(f32(v16)) ? Number.isNaN(a) : Object.is(a, f32(v16));
      const okB = Number.isNaN(f32(vbf)) ? Number.isNaN(b) : Object.is(b, f32(vbf));
      if (!okA || !okB) wrong.push(`${hex(pattern)}: ${a} / ${b}`);
    }
    expect(wrong).toEqual([]);
    const patterns = new Uint16Array(fixture.decode.map((d) => d[0]));
    const bulk16 = decodeHalf(patterns, "float16");
    const bulkbf = decodeHalf(patterns, "bfloat16", new Float64Array(patterns.length));
    expect(Array.from(bulk16)).toEqual(Array.from(patterns, (p) => float16Value(p)));
    expect(Array.from(bulkbf)).toEqual(Array.from(patterns, (p) => bfloat16Value(p)));
  });
});

describe("rounding from f64 is one rounding (no double rounding through f32)", () => {
  // 1 + 2^-11 + 2^-40 is above the float16 tie between 1 and 1 + 2^-10, so it rounds up; through f32 it
  // would first become the tie 1 + 2^-11 and then round to even (1). Same for bfloat16 at 1 + 2^-8.
  it("float16 and bfloat16 just above a tie", () => {
    expect(float16Bits(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01);
    expect(bfloat16Bits(1 + 2 ** -8 + 2 ** -40)).toBe(0x3f81);
    expect(roundToDtype(1 + 2 ** -11 + 2 ** -40, "float16")).toBe(1 + 2 ** -10);
  });

  it("every float16 and bfloat16 value round-trips", () => {
    let wrong = 0;
    for (let bits = 0; bits < 65536; bits++) {
      const a = float16Value(bits);
      const b = bfloat16Value(bits);
      if (!Number.isNaN(a) && float16Bits(a) !== bits) wrong++;
      if (!Number.isNaN(b) && bfloat16Bits(b) !== bits) wrong++;
    }
    expect(wrong).toBe(0);
  });
});

describe("tensor dtypes", () => {
  const g = globalThis as { Float16Array?: unknown };
  const had = "Float16Array" in g;
  const saved = g.Float16Array;
  afterEach(() => {
    if (had) g.Float16Array = saved;
    else delete g.Float16Array;
  });

  it("arrays imply their dtype; a Uint16Array needs one", () => {
    expect(dtypeOf(new Float32Array(1))).toBe("float32");
    expect(dtypeOf(new Float64Array(1))).toBe("float64");
    expect(dtypeOf(new Uint16Array(1))).toBeUndefined();
    expect(tensorDtype({ data: new Uint16Array(1), dtype: "bfloat16" }, "x")).toBe("bfloat16");
    expect(() => tensorDtype({ data: new Uint16Array(1) }, "x")).toThrow(
      /pass dtype "float16" or "bfloat16"/,
    );
    expect(() => tensorDtype({ data: new Float32Array(1), dtype: "float16" }, "x")).toThrow(
      expect.objectContaining({ code: "INVALID_DTYPE" }),
    );
    expect(() => tensorDtype({ data: new Uint16Array(1), dtype: "float32" }, "x")).toThrow(
      expect.objectContaining({ code: "INVALID_DTYPE" }),
    );
  });

  it("a Float16Array (where the runtime has one) is float16 and viewed, not copied", async () => {
    // Node 20 has no Float16Array: a stand-in class with its name shows how one is treated.
    class Float16Array extends Uint16Array {}
    g.Float16Array = Float16Array;
    const data = new Float16Array([float16Bits(1), float16Bits(-2), float16Bits(3), float16Bits(0.5)]);
    expect(dtypeOf(data)).toBe("float16");
    const x = { data, shape: [1, 4] };
    const out = await createReferenceBackend().rmsNorm(x, undefined, { inPlace: true, eps: 1e-6 });
    expect(out.dtype).toBe("float16");
    // x / √(mean(x²) + eps), mean(x²) = (1 + 4 + 9 + 0.25) / 4, rounded once to float16, in place.
    expect(data[0]).toBe(float16Bits(1 / Math.sqrt(14.25 / 4 + 1e-6)));
  });

  it("convertTensor rounds and keeps the shape", () => {
    const t = convertTensor({ data: new Float32Array([1, 1 + 2 ** -9, 65520]), shape: [3] }, "float16");
    expect(t.dtype).toBe("float16");
    expect(Array.from(t.data)).toEqual([0x3c00, 0x3c02, 0x7c00]);
    const back = convertTensor(t, "float32");
    expect(Array.from(back.data)).toEqual([1, 1 + 2 ** -9, Number.POSITIVE_INFINITY]);
  });
});
