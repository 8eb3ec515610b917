import { type Dtype, RopekitError } from "@ropekit/core";
import {
  type GpuContext,
  type Job,
  type Kernel,
  type ParamFields,
  computeMain,
  kernelInterface,
  packParams,
} from "../context.js";

/**
 * float16 and bfloat16 on every adapter, `shader-f16` or not: the one place the WGSL kernels' conversion
 * code lives.
 *
 * - Storage: a half tensor is uploaded as its bits, two halves per u32 word (element i in the low 16 bits
 *   of word i/2 when i is even, the high 16 bits when odd; buffers padded to 4 bytes), and declared
 *   `array<u32>` in the kernels. No `f16` type is used, so the same kernels run on adapters without
 *   `shader-f16` (SwiftShader) and with it; arithmetic and accumulation are f32 either way.
 * - Loads: each kernel reads a half buffer through an accessor `ld_<name>(i)` generated here, which picks
 *   the half out of its word and decodes it exactly: float16 with WGSL's `unpack2x16float` (every binary16
 *   value, subnormals included, is an f32), bfloat16 by moving its bits to the top of an f32
 *   (`bitcast<f32>(h << 16)`). f32 buffers keep their plain `name[i]` reads, so f32 kernels are the same
 *   WGSL as before halves existed.
 * - Stores: kernels write f32 results into a scratch buffer; an encode pass then rounds them to half bits,
 *   one invocation per output word (so no two invocations ever write the same word, whatever the row
 *   length's parity), with round-to-nearest-even done in integer arithmetic on the f32 bits — subnormals,
 *   overflow to ±∞ and NaN (made quiet, sign kept) as core's encoder (`float16Bits`, `bfloat16Bits`)
 *   defines them. Not `pack2x16float`: WGSL's floating-point conversion leaves the rounding of a value
 *   between two representable ones to the implementation ("the result is one of those two values", WGSL §
 *   "Floating Point Conversion", https://www.w3.org/TR/WGSL/#floating-point-conversion; see also the
 *   conformance tests, which accept either rounding: gpuweb/gpuweb#4159), and ties must go to even here.
 */

/** A dtype a webgpu buffer holds. */
export type GpuDtype = "float32" | "float16" | "bfloat16";

/** True for the dtypes stored as packed half words. */
export function isHalf(dtype: Dtype): dtype is "float16" | "bfloat16" {
  return dtype === "float16" || dtype === "bfloat16";
}

/** The WGSL element type of a buffer holding `dtype` data. */
export function elementOf(dtype: Dtype): "f32" | "u32" {
  return isHalf(dtype) ? "u32" : "f32";
}

/** Short name of a dtype for kernel cache keys. */
export function dtypeKey(dtype: Dtype): string {
  return dtype === "float16" ? "f16" : dtype === "bfloat16" ? "bf16" : "f32";
}

/**
 * The WGSL expression reading element `index` of buffer `name` as an f32: `name[index]` for f32 data
 * (unchanged WGSL), the generated accessor for half data.
 */
export function load(name: string, dtype: Dtype, index: string): string {
  return isHalf(dtype) ? `ld_${name}(${index})` : `${name}[${index}]`;
}

/** The decoders, from a word and which half of it. */
const DECODE_WGSL = /* wgsl */ `
// A float16 from half a word: exact (unpack2x16float of the word with the other half zeroed).
fn f16_at(w: u32, odd: bool) -> f32 {
  return unpack2x16float(select(w & 0xffffu, w >> 16u, odd)).x;
}
// A bfloat16 from half a word: its bits are the top 16 bits of the f32 it stands for.
fn bf16_at(w: u32, odd: bool) -> f32 {
  return bitcast<f32>(select(w << 16u, w & 0xffff0000u, odd));
}`;

/**
 * The accessors `ld_<name>(i) -> f32` for the half buffers among `buffers` (and the decoders they use),
 * starting with a newline; empty when every buffer is f32 (so f32 kernels' WGSL does not change).
 */
export function halfLoaders(buffers: readonly (readonly [name: string, dtype: Dtype])[]): string {
  const halves = buffers.filter(([, dtype]) => isHalf(dtype));
  if (halves.length === 0) return "";
  const fns = halves.map(
    ([name, dtype]) =>
      `fn ld_${name}(i: u32) -> f32 { return ${dtype === "float16" ? "f16_at" : "bf16_at"}(${name}[i >> 1u], (i & 1u) == 1u); }`,
  );
  return `${DECODE_WGSL}\n${fns.join("\n")}`;
}

/**
 * Round-to-nearest-even f32 → half bits in integer arithmetic (the same results as core's float16Bits
 * and bfloat16Bits on every f32, NaN and ±∞ included).
 */
const ENCODE_WGSL = /* wgsl */ `
fn f16_bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let sign = (u >> 16u) & 0x8000u;
  let a = u & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }   // NaN: quiet, sign kept
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }  // ≥ 65520 (the midpoint past 65504), or ∞: ±∞
  if (a >= 0x38800000u) {
    // Normal result (|x| ≥ 2^-14): rebias the exponent 127 → 15, then round the 13 dropped bits to even
    // (a carry out of the fraction bumps the exponent, up to ∞ at the top).
    let r = a - 0x38000000u;
    return sign | ((r + 0xfffu + ((r >> 13u) & 1u)) >> 13u);
  }
  // Subnormal result: |x| = m·2^(e−150) is m >> (126 − e) units of 2^-24, rounded to even; below 2^-25 → 0.
  let e = a >> 23u;
  if (e < 102u) { return sign; }
  let m = (a & 0x7fffffu) | 0x800000u;
  let s = 126u - e;
  let q = m >> s;
  let rest = m & ((1u << s) - 1u);
  let halfway = 1u << (s - 1u);
  let up = rest > halfway || (rest == halfway && (q & 1u) == 1u);
  return sign | (q + select(0u, 1u, up));
}

fn bf16_bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) { return ((u >> 16u) & 0x8000u) | 0x7fc0u; } // NaN: quiet
  // Round the low 16 bits to even; ∞ stays ∞, the largest finite values carry into ∞ as they should.
  return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}`;

const WG = 64;
const CONVERT_FIELDS: ParamFields = { count: "u32" };
const ENCODE = kernelInterface(CONVERT_FIELDS, [
  ["src", "read"],
  ["dst", "rw", "u32"],
]);
const DECODE = kernelInterface(CONVERT_FIELDS, [
  ["src", "read", "u32"],
  ["dst", "rw"],
]);

/** One invocation per output word: elements 2w and 2w + 1 of `src` rounded to `dtype` bits. */
function encodeWgsl(dtype: "float16" | "bfloat16"): string {
  const bits = dtype === "float16" ? "f16_bits" : "bf16_bits";
  return /* wgsl */ `
${ENCODE.wgsl}
${ENCODE_WGSL}

${computeMain(WG)}
  let w = (wg.z * nwg.x + wg.x) * ${WG}u + lid;
  let i = 2u * w;
  if (i >= P.count) { return; }
  var hi = 0u;
  if (i + 1u < P.count) { hi = ${bits}(src[i + 1u]); }
  dst[w] = ${bits}(src[i]) | (hi << 16u);
}
`;
}

/** One invocation per element: half bits of `src` decoded to f32. */
function decodeWgsl(dtype: "float16" | "bfloat16"): string {
  return /* wgsl */ `
${DECODE.wgsl}
${halfLoaders([["src", dtype]])}

${computeMain(WG)}
  let i = (wg.z * nwg.x + wg.x) * ${WG}u + lid;
  if (i >= P.count) { return; }
  dst[i] = ld_src(i);
}
`;
}

/** The half converters of one dtype, compiled once per context. */
export interface HalfPasses {
  readonly encode: Kernel;
  readonly decode: Kernel;
}

/** The encode and decode kernels of `dtype`. */
export async function halfPasses(ctx: GpuContext, dtype: "float16" | "bfloat16"): Promise<HalfPasses> {
  const k = dtypeKey(dtype);
  const [encode, decode] = await Promise.all([
    ctx.kernel(`half-encode:${k}`, () => encodeWgsl(dtype), ENCODE.bindings),
    ctx.kernel(`half-decode:${k}`, () => decodeWgsl(dtype), DECODE.bindings),
  ]);
  return { encode, decode };
}

/** Records the encode of `count` f32 values of `src` into a new buffer of packed half words. */
export function recordEncode(job: Job, passes: HalfPasses, src: GPUBuffer, count: number): GPUBuffer {
  const dst = job.scratch(Math.ceil(count / 2), "half output");
  const params = job.uniform(packParams(CONVERT_FIELDS, { count }));
  job.dispatch(passes.encode, [src, dst, params], Math.ceil(Math.ceil(count / 2) / WG));
  return dst;
}

/** Records the decode of `count` packed halves of `src` into a new f32 buffer. */
export function recordDecode(job: Job, passes: HalfPasses, src: GPUBuffer, count: number): GPUBuffer {
  const dst = job.scratch(count, "half input");
  const params = job.uniform(packParams(CONVERT_FIELDS, { count }));
  job.dispatch(passes.decode, [src, dst, params], Math.ceil(count / WG));
  return dst;
}

/**
 * Records the output of a kernel that wrote `count` f32 values into `f32Out`: read back as is for a
 * float32 output, else encoded to `passes`' half dtype first and read back as packed words.
 */
export function recordOutput(
  job: Job,
  passes: HalfPasses | undefined,
  f32Out: GPUBuffer,
  count: number,
): void {
  if (!passes) {
    job.read(f32Out, count);
    return;
  }
  job.readHalves(recordEncode(job, passes, f32Out, count), count);
}

/** The half bits of a `Job.readHalves` result. */
export function halvesOf(words: Float32Array, count: number): Uint16Array {
  return new Uint16Array(words.buffer, words.byteOffset, count);
}

/** Kernel data a webgpu kernel receives: f32 values or half bits (declared dtypes only). */
export type GpuData = Float32Array | Uint16Array;

/**
 * The data of a kernel tensor as the GPU takes it: f32 and half bits as they are; anything else (a
 * Float64Array, which only reaches a kernel through core's widening) rounded to f32.
 */
export function gpuData(data: ArrayLike<number>, dtype: Dtype): GpuData {
  if (isHalf(dtype)) {
    if (!(data instanceof Uint16Array)) {
      throw new RopekitError("INVALID_DTYPE", `${dtype} data must reach the kernels as bits`, "dtype");
    }
    return data;
  }
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/** The half passes for an output of `dtype`, or undefined for float32. */
export async function outputPasses(ctx: GpuContext, dtype: Dtype): Promise<HalfPasses | undefined> {
  return isHalf(dtype) ? halfPasses(ctx, dtype) : undefined;
}

/** An output array of `count` elements of `dtype`: a Float32Array, or a Uint16Array of half bits. */
export function outputArray(dtype: Dtype, count: number): GpuData {
  return isHalf(dtype) ? new Uint16Array(count) : new Float32Array(count);
}

/** A read-back result as data of `dtype`: the f32 values, or the half bits of the packed words. */
export function resultData(words: Float32Array, dtype: Dtype, count: number): GpuData {
  return isHalf(dtype) ? halvesOf(words, count) : words.subarray(0, count);
}
