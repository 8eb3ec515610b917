import { RopekitError, describeValue } from "../errors.js";
import type { FloatArray, Tensor } from "../types.js";
import { readFile } from "#read-file";

/** The element types ropekit reads from a safetensors file, with their sizes in bytes. */
const DTYPE_BYTES = { F32: 4, F64: 8, F16: 2, BF16: 2 } as const;
type SafetensorsDtype = keyof typeof DTYPE_BYTES;

function malformed(why: string): never {
  throw new RopekitError("INVALID_FORMAT", `not a valid safetensors file: ${why}`, "safetensors");
}

/** IEEE half bits → number, with subnormals, ±∞ and NaN as the format defines them. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Reads `count` values of `dtype` from `bytes` at `offset` (little-endian): f32 data as Float32Array, f64 as Float64Array, f16/bf16 widened to f32. */
function decode(bytes: Uint8Array, offset: number, count: number, dtype: SafetensorsDtype): FloatArray {
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
    case "F16": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToNumber(view.getUint16(2 * i, true));
      return out;
    }
    case "BF16": {
      // bf16 is the top half of an f32: widening is exact.
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    }
  }
}

/**
 * Parses a safetensors file (an 8-byte little-endian header length, a JSON header of
 * `{ name: { dtype, shape, data_offsets } }`, the data) into tensors by name. F32 and F64 are read as they
 * are; F16 and BF16 are widened to f32 (exactly). Every header field, offset and size is checked: a
 * truncated or malformed file raises `INVALID_FORMAT`, another dtype `NOT_IMPLEMENTED`.
 */
export function parseSafetensors(bytes: Uint8Array | ArrayBuffer): Record<string, Tensor> {
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
    out[name] = {
      data: decode(data, base + begin, count, dtype as SafetensorsDtype),
      shape: [...(shape as number[])],
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
 * Node). See `parseSafetensors` for what is read and checked.
 *
 * @example
 * ```ts
 * const weights = await loadSafetensors("model-00001-of-00002.safetensors");
 * const layer = attentionFromHF(backend, config, weights, { layerIdx: 0 });
 * ```
 */
export async function loadSafetensors(
  source: Uint8Array | ArrayBuffer | string | URL,
): Promise<Record<string, Tensor>> {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return parseSafetensors(source);
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
    return parseSafetensors(new Uint8Array(await response.arrayBuffer()));
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
  return parseSafetensors(bytes);
}

/**
 * Encodes tensors as a safetensors file (F32 for Float32Array data, F64 for Float64Array), names sorted,
 * offsets contiguous — what `parseSafetensors` reads back. For tests, examples and small checkpoints.
 */
export function encodeSafetensors(tensors: Readonly<Record<string, Tensor>>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, { dtype: string; shape: readonly number[]; data_offsets: [number, number] }> =
    {};
  let offset = 0;
  for (const name of names) {
    const t = tensors[name] as Tensor;
    const f64 = t.data instanceof Float64Array;
    const bytes = t.data.length * (f64 ? 8 : 4);
    header[name] = { dtype: f64 ? "F64" : "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
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
  for (const name of names) {
    const t = tensors[name] as Tensor;
    const f64 = t.data instanceof Float64Array;
    for (let i = 0; i < t.data.length; i++, at += f64 ? 8 : 4) {
      if (f64) view.setFloat64(at, t.data[i] as number, true);
      else view.setFloat32(at, t.data[i] as number, true);
    }
  }
  return out;
}
