// float16 / bfloat16 in the kernels: read as f32 (exactly: every half is an f32), written rounded to
// nearest, ties to even. Dtype codes are src/attention-layout.ts's DTYPE_*: 0 f32, 1 f16, 2 bf16.
import { DTYPE_BF16, DTYPE_F16, DTYPE_F32 } from "../src/attention-layout";

/** 2^112: an f16 exponent field moved to f32's position, times this, is the f32 exponent. */
export const F16_SCALE: f32 = 5.192296858534828e33;

/**
 * Four f16 values (sign-extended into i32 lanes) as f32x4. The exponent and mantissa shifted into f32's
 * fields and multiplied by 2^112 rebias normals and subnormals alike (a subnormal half becomes an f32
 * subnormal, which the multiply normalises exactly); the sign rides along in bit 31. ±∞ and NaN (exponent
 * all ones) then get f32's all-ones exponent, keeping the payload.
 */
// @ts-ignore: decorator
@inline
function f16Lanes(s: v128): v128 {
  const f = f16Rebias(s);
  const special = i32x4.gt_s(v128.and(s, i32x4.splat(0x7fff)), i32x4.splat(0x7bff));
  return v128.or(f, v128.and(special, i32x4.splat(0x7f800000)));
}

/** Four finite f16 values (sign-extended into i32 lanes) as f32x4: f16Lanes without ±∞ / NaN. */
// @ts-ignore: decorator
@inline
export function f16Rebias(s: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(s, 13), i32x4.splat(0x8fffe000)), f32x4.splat(F16_SCALE));
}

/**
 * Halves 0-3 (`high` false) or 4-7 of eight finite halves as f32x4 — for f16 scaled by 2^−112 (the
 * rebias multiply left out: halfQuad adds it; decode-half.ts folds it into the other factor of each
 * product instead). 16-bit lane work shared by both quads: bf16 interleaves zero low words with the
 * halves; f16 builds each f32's low word (h << 13) and high word (sign, then h's bits 14…3) in 16-bit
 * lanes and interleaves them — sign in bit 31, exponent and mantissa at bits 27…13. Two-input shuffles
 * as word interleaves (one instruction).
 */
// @ts-ignore: decorator
@inline
export function halfQuadUnscaled(h: v128, dtype: i32, high: bool): v128 {
  let a = i16x8.splat(0);
  let b = h;
  if (dtype == DTYPE_F16) {
    a = i16x8.shl(h, 13);
    b = v128.and(i16x8.shr_s(h, 3), i16x8.splat(<i16>0x8fff));
  }
  return high
    ? i8x16.shuffle(a, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31)
    : i8x16.shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
}

/** Halves 0-3 (`high` false) or 4-7 of eight finite halves as f32x4 (halfQuadUnscaled, f16 rebiased). */
// @ts-ignore: decorator
@inline
export function halfQuad(h: v128, dtype: i32, high: bool): v128 {
  const w = halfQuadUnscaled(h, dtype, high);
  return dtype == DTYPE_F16 ? f32x4.mul(w, f32x4.splat(F16_SCALE)) : w;
}

/** One f16 bit pattern as f32. */
// @ts-ignore: decorator
@inline
function f16ToF32(h: u32): f32 {
  return f32x4.extract_lane(f16Lanes(i32x4.splat(<i32>(<i16>h))), 0);
}

/** Element `index` of an array of `dtype` at byte address `base`, as f32. */
// @ts-ignore: decorator
@inline
export function loadF32(base: usize, index: i32, dtype: i32): f32 {
  if (dtype == DTYPE_F32) return load<f32>(base + (<usize>index << 2));
  const h = <u32>load<u16>(base + (<usize>index << 1));
  if (dtype == DTYPE_BF16) return reinterpret<f32>(h << 16);
  return f16ToF32(h);
}

/** x rounded to bfloat16 bits (ties to even; NaN stays a quiet NaN of the same sign). */
function toBf16(x: f32): u32 {
  const b = reinterpret<u32>(x);
  if ((b & 0x7fffffff) > 0x7f800000) return (b >> 16) | 0x40;
  return (b + 0x7fff + ((b >> 16) & 1)) >> 16;
}

/** x rounded to float16 bits (ties to even): past 65520 → ±∞, below 2^−14 → subnormals, NaN quiet. */
function toF16(x: f32): u32 {
  const b = reinterpret<u32>(x);
  const sign = (b >> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  if (a >= 0x477ff000) return sign | 0x7c00;
  // Subnormal (or zero) halves are multiples of 2^−24: the scaling is exact, nearest rounds ties to even;
  // 1024 is the smallest normal's bit pattern, so rounding up into it comes out right.
  if (a < 0x38800000) return sign | <u32>nearest<f32>(reinterpret<f32>(a) * 16777216.0);
  const r = a - 0x38000000; // exponent rebiased by 127 − 15
  return sign | ((r + 0xfff + ((r >> 13) & 1)) >> 13);
}

/** Stores x as element `index` of an array of `dtype` at byte address `base`. */
// @ts-ignore: decorator
@inline
export function storeF32(base: usize, index: i32, x: f32, dtype: i32): void {
  if (dtype == DTYPE_F32) store<f32>(base + (<usize>index << 2), x);
  else store<u16>(base + (<usize>index << 1), <u16>(dtype == DTYPE_F16 ? toF16(x) : toBf16(x)));
}

/**
 * Rows [c0, c0 + cols) of a half array (row r at element base + r·stride, `width` elements each) into
 * `dst` as f32 rows of `width`: the tile a kernel then reads as it reads f32 data. Eight values per
 * SIMD load; bf16 is a shift, f16 the rebias above.
 */
export function stageRows(
  src: usize,
  base: i32,
  stride: i32,
  c0: i32,
  cols: i32,
  width: i32,
  dtype: i32,
  dst: usize,
): void {
  for (let c = 0; c < cols; c++) {
    const row = src + (<usize>(base + (c0 + c) * stride) << 1);
    const out = dst + (<usize>(c * width) << 2);
    let x = 0;
    if (dtype == DTYPE_BF16) {
      for (; x + 8 <= width; x += 8) {
        const h = v128.load(row + (<usize>x << 1));
        v128.store(out + (<usize>x << 2), halfQuad(h, DTYPE_BF16, false));
        v128.store(out + (<usize>x << 2), halfQuad(h, DTYPE_BF16, true), 16);
      }
    } else {
      // The common case first: no ±∞ / NaN in the row (checked on eight halves at once), so each lane
      // needs only the rebias; a row with one is converted again with the exact special-value path.
      let special = i16x8.splat(0);
      for (; x + 8 <= width; x += 8) {
        const h = v128.load(row + (<usize>x << 1));
        special = v128.or(special, i16x8.gt_s(v128.and(h, i16x8.splat(0x7fff)), i16x8.splat(0x7bff)));
        v128.store(out + (<usize>x << 2), halfQuad(h, DTYPE_F16, false));
        v128.store(out + (<usize>x << 2), halfQuad(h, DTYPE_F16, true), 16);
      }
      if (v128.any_true(special)) {
        for (let y = 0; y < x; y += 8) {
          const h = v128.load(row + (<usize>y << 1));
          v128.store(out + (<usize>y << 2), f16Lanes(i32x4.extend_low_i16x8_s(h)));
          v128.store(out + (<usize>y << 2), f16Lanes(i32x4.extend_high_i16x8_s(h)), 16);
        }
      }
    }
    for (; x < width; x++) store<f32>(out + (<usize>x << 2), loadF32(row, x, dtype));
  }
}

// ---- whole-vector loads and stores for the element-wise kernels (RoPE, positional rows, linear, RMSNorm):
// a dtype argument that is a constant at the call site folds away, so each kernel gets one loop per dtype.

/** Bytes per element of `dtype`, as a shift: 2 (f32) or 1 (halves). */
// @ts-ignore: decorator
@inline
export function dtypeShift(dtype: i32): usize {
  return dtype == DTYPE_F32 ? 2 : 1;
}

/** Byte address of element `index` of an array of `dtype` at `base`. */
// @ts-ignore: decorator
@inline
export function elementAt(base: usize, index: i32, dtype: i32): usize {
  return base + (<usize>index << dtypeShift(dtype));
}

/**
 * The four halves in the low 64 bits of `h` as f32x4, exactly: subnormals, ±∞ and NaN included (bf16 is
 * a word interleave with zero; f16 widens each lane and takes the special-value path of f16Lanes).
 */
// @ts-ignore: decorator
@inline
export function halfLow4(h: v128, dtype: i32): v128 {
  if (dtype == DTYPE_BF16) return halfQuad(h, DTYPE_BF16, false);
  return f16Lanes(i32x4.extend_low_i16x8_s(h));
}

/** Four elements of `dtype` at byte address `p` as f32x4 (exact for every bit pattern). */
// @ts-ignore: decorator
@inline
export function loadQuad(p: usize, dtype: i32): v128 {
  if (dtype == DTYPE_F32) return v128.load(p);
  return halfLow4(v128.load64_zero(p), dtype);
}

/**
 * f32x4 rounded to bfloat16 bits in each i32 lane (the scalar toBf16, four lanes): add 0x7fff plus the
 * kept part's lowest bit, then drop the low word — ties to even, overflow carries into ±∞; NaN becomes a
 * quiet NaN of the same sign and payload.
 */
// @ts-ignore: decorator
@inline
export function bf16Bits4(v: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(v, 16), i32x4.splat(1));
  const rounded = i32x4.shr_u(i32x4.add(v, i32x4.add(lsb, i32x4.splat(0x7fff))), 16);
  const nan = i32x4.gt_s(v128.and(v, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  return v128.bitselect(v128.or(i32x4.shr_u(v, 16), i32x4.splat(0x40)), rounded, nan);
}

/**
 * f32x4 rounded to float16 bits in each i32 lane (the scalar toF16's results, four lanes, with cheap
 * vector operations only). Normals: rebias the exponent and add 0xfff plus the kept part's lowest bit
 * before dropping 13 bits — ties to even, a carry moves into the exponent; from 65520 on the sum is at
 * least ∞'s pattern, and an unsigned min makes it ∞ (NaN then gets its quiet bit). Below 2^−14: |x| + 0.5
 * in f32, whose ulp is 2^−24 — the f16 subnormal step — so the addition itself rounds to nearest even
 * and the count of steps is the sum's bits minus 0.5's.
 */
// @ts-ignore: decorator
@inline
export function f16Bits4(v: v128): v128 {
  const sign = v128.and(i32x4.shr_u(v, 16), i32x4.splat(0x8000));
  const a = v128.and(v, i32x4.splat(0x7fffffff));
  const lsb = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1)); // 0x38000000 >> 13 is even: r's bit is a's
  const normal = i32x4.min_u(
    i32x4.shr_u(i32x4.add(i32x4.add(a, lsb), i32x4.splat(0xfff - 0x38000000)), 13),
    i32x4.splat(0x7c00),
  );
  const sub = i32x4.sub(f32x4.add(a, f32x4.splat(0.5)), i32x4.splat(0x3f000000));
  const h = v128.bitselect(sub, normal, i32x4.lt_s(a, i32x4.splat(0x38800000)));
  const nan = v128.and(i32x4.gt_s(a, i32x4.splat(0x7f800000)), i32x4.splat(0x0200));
  return v128.or(v128.or(h, nan), sign);
}

/** f32x4 as `dtype` (a half) bits in the low 16 bits of each i32 lane, rounded to nearest even. */
// @ts-ignore: decorator
@inline
export function halfBits4(v: v128, dtype: i32): v128 {
  return dtype == DTYPE_F16 ? f16Bits4(v) : bf16Bits4(v);
}

/** Stores f32x4 as four elements of `dtype` at byte address `p` (halves rounded to nearest even). */
// @ts-ignore: decorator
@inline
export function storeQuad(p: usize, v: v128, dtype: i32): void {
  if (dtype == DTYPE_F32) {
    v128.store(p, v);
    return;
  }
  const b = halfBits4(v, dtype);
  v128.store64_lane(p, i8x16.shuffle(b, b, 0, 1, 4, 5, 8, 9, 12, 13, 0, 1, 4, 5, 8, 9, 12, 13), 0);
}

/** The largest (h << 1) over eight f16 lanes, folded into `m`: ±∞ / NaN present when a lane is ≥ 0xf800. */
// @ts-ignore: decorator
@inline
export function f16SpecialMax(m: v128, h: v128): v128 {
  return i16x8.max_u(m, i16x8.shl(h, 1));
}

/** Whether f16SpecialMax saw a ±∞ or NaN. */
// @ts-ignore: decorator
@inline
export function f16SawSpecial(m: v128): bool {
  return v128.any_true(i16x8.gt_u(m, i16x8.splat(<i16>0xf7ff)));
}
