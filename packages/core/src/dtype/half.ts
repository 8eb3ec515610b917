/**
 * IEEE binary16 ("float16") and bfloat16 conversions, round-to-nearest-even, written from the formats:
 * - float16: 1 sign, 5 exponent (bias 15), 10 fraction bits; normals 2^-14 … 65504, subnormals down to
 *   2^-24; a value ≥ 65520 (the midpoint between 65504 and 2^16) rounds to ±∞.
 * - bfloat16: the top 16 bits of a float32: 1 sign, 8 exponent (bias 127), 7 fraction bits; subnormals
 *   down to 2^-133; a value ≥ (2 − 2^-8)·2^127 rounds to ±∞.
 * NaN stays NaN (a quiet NaN with the input's sign: 0x7e00 / 0x7fc0 and the sign bit); ±0 keep their sign.
 *
 * Rounding uses f64 addition, which is itself round-to-nearest-even: for |x| with binary exponent e, adding
 * c = 2^(e + 52 − p) (p = the target's fraction bits) leaves a sum whose f64 ulp is exactly the target's
 * ulp at e, so (|x| + c) − c is |x| rounded to the target's grid, ties to even, in one rounding — from
 * any f64 (not only f32) input.
 */

/** The two 16-bit float formats. */
export type HalfDtype = "float16" | "bfloat16";

const F64 = new Float64Array(1);
const F64_WORDS = new Uint32Array(F64.buffer);
// The high word of an f64 (sign, exponent, top fraction bits) is at index 1 on little-endian hosts.
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

/** 2^k for k in [-160, 200], exact, looked up rather than computed per element. */
const POW2_BIAS = 160;
const POW2 = new Float64Array(361);
for (let k = -POW2_BIAS; k <= 200; k++) POW2[k + POW2_BIAS] = 2 ** k;
const pow2 = (k: number): number => POW2[k + POW2_BIAS] as number;

/** The float16 bits nearest to `x` (round to nearest, ties to even). */
export function float16Bits(x: number): number {
  F64[0] = x;
  const hi = F64_WORDS[HI] as number;
  const sign = (hi >>> 16) & 0x8000;
  const a = Math.abs(x);
  if (Number.isNaN(a)) return sign | 0x7e00;
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal grid 2^-24: the rounded count of ulps is the fraction field (1024 = the smallest normal).
    const r = a + 2 ** 28 - 2 ** 28;
    return sign | (r * 2 ** 24);
  }
  // The binary exponent ⌊log2 a⌋, from the f64's exponent field (a is normal here).
  const e = ((hi >>> 20) & 0x7ff) - 1023;
  const c = pow2(e + 42);
  const r = a + c - c;
  // r ∈ [2^e, 2^(e+1)]: fraction (r/2^e − 1)·1024; r = 2^(e+1) carries into the exponent, as it should.
  return sign | (((e + 15) << 10) + (r * pow2(-e) - 1) * 1024);
}

/** The bfloat16 bits nearest to `x` (round to nearest, ties to even). */
export function bfloat16Bits(x: number): number {
  F64[0] = x;
  const hi = F64_WORDS[HI] as number;
  const sign = (hi >>> 16) & 0x8000;
  const a = Math.abs(x);
  if (Number.isNaN(a)) return sign | 0x7fc0;
  if (a >= (2 - 2 ** -8) * 2 ** 127) return sign | 0x7f80;
  if (a < 2 ** -126) {
    const r = a + 2 ** -81 - 2 ** -81;
    return sign | (r * 2 ** 133);
  }
  const e = ((hi >>> 20) & 0x7ff) - 1023;
  const c = pow2(e + 45);
  const r = a + c - c;
  return sign | (((e + 127) << 7) + (r * pow2(-e) - 1) * 128);
}

let float16Table: Float32Array | undefined;

/** The value of every float16 bit pattern, built on first use (256 KiB). */
function float16Values(): Float32Array {
  if (float16Table) return float16Table;
  const t = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const exp = (bits >>> 10) & 0x1f;
    const frac = bits & 0x3ff;
    const magnitude =
      exp === 0
        ? frac * 2 ** -24
        : exp === 31
          ? frac === 0
            ? Number.POSITIVE_INFINITY
            : Number.NaN
          : (1024 + frac) * pow2(exp - 25);
    t[bits] = bits & 0x8000 ? -magnitude : magnitude;
  }
  float16Table = t;
  return t;
}

/** The value of float16 bits (exact: every float16 is a float32). */
export function float16Value(bits: number): number {
  return float16Values()[bits & 0xffff] as number;
}

/** The value of bfloat16 bits (exact: a bfloat16 is the top half of a float32). */
export function bfloat16Value(bits: number): number {
  F32_BITS[0] = (bits & 0xffff) << 16;
  return F32[0] as number;
}

/** The bits of `x` rounded to `dtype`. */
export function halfBits(x: number, dtype: HalfDtype): number {
  return dtype === "float16" ? float16Bits(x) : bfloat16Bits(x);
}

/** The value of `dtype` bits. */
export function halfValue(bits: number, dtype: HalfDtype): number {
  return dtype === "float16" ? float16Value(bits) : bfloat16Value(bits);
}

/** `x` rounded to the nearest `dtype` value (ties to even), as a number. */
export function roundToHalf(x: number, dtype: HalfDtype): number {
  return halfValue(halfBits(x, dtype), dtype);
}

/**
 * Decodes `bits[from … from + count)` into `out[at …]`: float32 or float64 values, exact either way.
 * Defaults: the whole array into a new Float32Array.
 */
export function decodeHalf<T extends Float32Array | Float64Array = Float32Array>(
  bits: Uint16Array,
  dtype: HalfDtype,
  out?: T,
  from = 0,
  count = bits.length - from,
  at = 0,
): T {
  const dst = out ?? (new Float32Array(count) as T);
  if (dtype === "float16") {
    const table = float16Values();
    for (let i = 0; i < count; i++) dst[at + i] = table[bits[from + i] as number] as number;
  } else {
    for (let i = 0; i < count; i++) {
      F32_BITS[0] = (bits[from + i] as number) << 16;
      dst[at + i] = F32[0] as number;
    }
  }
  return dst;
}

/**
 * Rounds `values[from … from + count)` to `dtype` bits into `out[at …]` (ties to even). Defaults: the
 * whole array into a new Uint16Array.
 */
export function encodeHalf(
  values: ArrayLike<number>,
  dtype: HalfDtype,
  out?: Uint16Array,
  from = 0,
  count = values.length - from,
  at = 0,
): Uint16Array {
  const dst = out ?? new Uint16Array(count);
  if (values instanceof Float32Array) {
    encodeFloat32(values, dtype, dst, from, count, at);
    return dst;
  }
  if (dtype === "float16") {
    for (let i = 0; i < count; i++) dst[at + i] = float16Bits(values[from + i] as number);
  } else {
    for (let i = 0; i < count; i++) dst[at + i] = bfloat16Bits(values[from + i] as number);
  }
  return dst;
}

/**
 * `encodeHalf` for f32 data, on the f32 bits (several times faster; the same results, as the f32 value
 * is the input either way). Rounding to nearest even by adding half an ulp minus one, plus the kept
 * lowest bit, then truncating: bfloat16 keeps the top 16 bits; float16 first moves the exponent from
 * bias 127 to 15. Non-finite inputs and float16 overflow and subnormals take the exact scalar path.
 */
function encodeFloat32(
  values: Float32Array,
  dtype: HalfDtype,
  dst: Uint16Array,
  from: number,
  count: number,
  at: number,
): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  if (dtype === "bfloat16") {
    for (let i = 0; i < count; i++) {
      const u = bits[from + i] as number;
      if ((u & 0x7f800000) === 0x7f800000) dst[at + i] = bfloat16Bits(values[from + i] as number);
      else dst[at + i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    }
    return;
  }
  for (let i = 0; i < count; i++) {
    const u = bits[from + i] as number;
    const a = u & 0x7fffffff;
    // Normal float16 results: 2^-14 ≤ |x| < 65520 (0x38800000 ≤ a < 0x477ff000).
    if (a >= 0x38800000 && a < 0x477ff000) {
      const r = a - 0x38000000; // exponent bias 127 → 15 (112 << 23)
      dst[at + i] = ((u >>> 16) & 0x8000) | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
    } else {
      dst[at + i] = float16Bits(values[from + i] as number);
    }
  }
}
