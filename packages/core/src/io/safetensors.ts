import { tensorDtype } from "../dtype/dtype.js";
import { decodeHalf } from "../dtype/half.js";
import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import type { Tensor, TensorData } from "../types.js";
import { readFile } from "#read-file";

/** The element types ropekit reads from a safetensors file, with their sizes in bytes. */
const DTYPE_BYTES = { F32: 4, F64: 8, F16: 2, BF16: 2 } as const;
type SafetensorsDtype = keyof typeof DTYPE_BYTES;

function malformed(why: string): never {
  throw new RopekitError("INVALID_FORMAT", `not a valid safetensors file: ${why}`, "safetensors");
}

/** Options of `parseSafetensors` and `loadSafetensors`. */
export interface SafetensorsOptions {
  /**
   * Keep F16 and BF16 tensors as they are stored — a Uint16Array of bits with `dtype` "float16" /
   * "bfloat16", half the memory of f32 — instead of widening them to f32. Default false.
   */
  keepHalf?: boolean;
}

/**
 * Reads `count` values of `dtype` from `bytes` at `offset` (little-endian): f32 data as Float32Array, f64
 * as Float64Array, f16/bf16 as Uint16Array bits (`keepHalf`) or widened (exactly) to f32.
 */
function decode(
  bytes: Uint8Array,
  offset: number,
  count: number,
  dtype: SafetensorsDtype,
  keepHalf: boolean,
): TensorData {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * DTYPE_BYTES[dtype]);
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case "F64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case "F16":
    case "BF16": {
      const bits = new Uint16Array(count);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true);
      return keepHalf ? bits : decodeHalf(bits, dtype === "F16" ? "float16" : "bfloat16");
    }
  }
}

/**
 * Parses a safetensors file (an 8-byte little-endian header length, a JSON header of
 * `{ name: { dtype, shape, data_offsets } }`, the data) into tensors by name. F32 and F64 are read as they
 * are; F16 and BF16 are widened to f32 (exactly), or with `keepHalf` kept as Uint16Array bits with their
 * `dtype`. Every header field, offset and size is checked: a truncated or malformed file raises
 * `INVALID_FORMAT`, another dtype `NOT_IMPLEMENTED`.
 */
export function parseSafetensors(
  bytes: Uint8Array | ArrayBuffer,
  options: SafetensorsOptions = {},
): Record<string, Tensor> {
  checkOptions(options, ["keepHalf"]);
  const keepHalf = options.keepHalf === true;
  const data =
    bytes instanceof Uint8Array
      ? bytes
      : ArrayBuffer.isView(bytes)
        ? malformed("expected bytes")
        : new Uint8Array(bytes);
  if (!(data instanceof Uint8Array))
    malformed(`expected a Uint8Array or ArrayBuffer, got ${describeValue(bytes)}`);
  if (data.length < 8) malformed(`${data.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > data.length - 8)
    malformed(`the header claims ${headerLength} bytes but the file has ${data.length - 8} after the length`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data.subarray(8, 8 + headerLength)));
  } catch (error) {
    malformed(`the header is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header))
    malformed("the header is not a JSON object");
  const base = 8 + headerLength;
  const dataLength = data.length - base;
  const out: Record<string, Tensor> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (e === null || typeof e !== "object") malformed(`${name}: not an object`);
    const { dtype, shape, data_offsets: offsets } = e;
    if (typeof dtype !== "string") malformed(`${name}: dtype missing`);
    if (!(dtype in DTYPE_BYTES)) {
      throw new RopekitError(
        "NOT_IMPLEMENTED",
        `${name}: dtype ${dtype} is not one ropekit reads (F32, F64, F16, BF16)`,
        name,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      malformed(`${name}: shape must be non-negative integers`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    )
      malformed(`${name}: data_offsets must be two non-negative integers`);
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const size = DTYPE_BYTES[dtype as SafetensorsDtype];
    if (end < begin || end - begin !== count * size)
      malformed(`${name}: data_offsets [${begin}, ${end}] do not hold ${count} ${dtype} values`);
    if (end > dataLength)
      malformed(`${name}: data ends at ${end}, past the ${dataLength} data bytes (truncated?)`);
    spans.push([begin, end, name]);
    const kept = keepHalf && (dtype === "F16" || dtype === "BF16");
    out[name] = {
      data: decode(data, base + begin, count, dtype as SafetensorsDtype, keepHalf),
      shape: [...(shape as number[])],
      ...(kept ? { dtype: dtype === "F16" ? ("float16" as const) : ("bfloat16" as const) } : {}),
    };
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const [prevBegin, prevEnd, prevName] = spans[i - 1] as [number, number, string];
    const [begin, , name] = spans[i] as [number, number, string];
    if (begin < prevEnd && prevEnd > prevBegin) malformed(`${name} overlaps ${prevName}`);
  }
  return out;
}

/**
 * Loads a safetensors file: bytes, a file path (Node), or a URL (fetched; `file:` URLs read from disk in
 * Node). See `parseSafetensors` for what is read and checked; `{ keepHalf: true }` keeps F16/BF16
 * weights in half the memory (MultiHeadAttention uses them as they are where the backend takes them).
 *
 * @example
 * ```ts
 * const weights = await loadSafetensors("model-00001-of-00002.safetensors");
 * const layer = attentionFromHF(backend, config, weights, { layerIdx: 0 });
 * ```
 */
export async function loadSafetensors(
  source: Uint8Array | ArrayBuffer | string | URL,
  options: SafetensorsOptions = {},
): Promise<Record<string, Tensor>> {
  checkOptions(options, ["keepHalf"]);
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return parseSafetensors(source, options);
  const url =
    source instanceof URL ? source : /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? new URL(source) : undefined;
  if (url && url.protocol !== "file:") {
    const response = await fetch(url);
    if (!response.ok) {
      throw new RopekitError(
        "INVALID_OPTION",
        `could not fetch ${url.href}: HTTP ${response.status}`,
        "source",
      );
    }
    return parseSafetensors(new Uint8Array(await response.arrayBuffer()), options);
  }
  if (typeof source !== "string" && !url)
    throw new RopekitError(
      "INVALID_OPTION",
      `source must be bytes, a path or a URL, got ${describeValue(source)}`,
      "source",
    );
  // A path or file: URL: Node's file system, picked by package.json `imports` (a browser build gets a
  // stub that says to pass bytes or an http(s) URL).
  let bytes: Uint8Array;
  try {
    bytes = await readFile(url ?? (source as string));
  } catch (error) {
    if ((error as Error).name === "RopekitError") throw error;
    throw new RopekitError(
      "INVALID_OPTION",
      `could not read ${String(source)}: ${(error as Error).message}`,
      "source",
    );
  }
  return parseSafetensors(bytes, options);
}

/** The safetensors dtype and element size of a tensor's dtype. */
const STORED = {
  float32: ["F32", 4],
  float64: ["F64", 8],
  float16: ["F16", 2],
  bfloat16: ["BF16", 2],
} as const;

/**
 * Encodes tensors as a safetensors file (F32 for Float32Array data, F64 for Float64Array, F16 / BF16 for
 * float16 / bfloat16 bits), names sorted, offsets contiguous — what `parseSafetensors` reads back. For
 * tests, examples and small checkpoints.
 */
export function encodeSafetensors(tensors: Readonly<Record<string, Tensor>>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, { dtype: string; shape: readonly number[]; data_offsets: [number, number] }> =
    {};
  let offset = 0;
  const stored = names.map((name) => STORED[tensorDtype(tensors[name] as Tensor, name)]);
  for (const [i, name] of names.entries()) {
    const t = tensors[name] as Tensor;
    const [dtype, size] = stored[i] as (typeof STORED)[keyof typeof STORED];
    const bytes = t.data.length * size;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  // The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const [n, name] of names.entries()) {
    const t = tensors[name] as Tensor;
    const [, size] = stored[n] as (typeof STORED)[keyof typeof STORED];
    // A Float16Array is written as its bits, like a Uint16Array.
    const data = size === 2 ? new Uint16Array(t.data.buffer, t.data.byteOffset, t.data.length) : t.data;
    for (let i = 0; i < data.length; i++, at += size) {
      const value = data[i] as number;
      if (size === 8) view.setFloat64(at, value, true);
      else if (size === 4) view.setFloat32(at, value, true);
      else view.setUint16(at, value, true);
    }
  }
  return out;
}
