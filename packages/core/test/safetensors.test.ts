import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { encodeSafetensors, loadSafetensors, parseSafetensors } from "../src/index.js";

/** A safetensors file written by hand (not by our encoder), with raw little-endian bytes per tensor. */
function file(
  entries: Record<string, { dtype: string; shape: number[]; bytes: number[] }>,
  tamper?: (header: Record<string, unknown>) => void,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, e] of Object.entries(entries)) {
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  tamper?.(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(
    Object.values(entries).flatMap((e) => e.bytes),
    8 + json.length,
  );
  return out;
}

// 1.5 = 0x3fc00000 (f32), 0x3e00 (f16), 0x3fc0 (bf16); −2 = 0xc0000000, 0xc000, 0xc000; f16 smallest subnormal 0x0001 = 2^-24.
const sample = () =>
  file({
    f32: { dtype: "F32", shape: [2], bytes: [0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0] },
    f16: { dtype: "F16", shape: [2, 2], bytes: [0x00, 0x3e, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c] },
    bf16: { dtype: "BF16", shape: [2], bytes: [0xc0, 0x3f, 0x00, 0xc0] },
  });

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return "no error";
};

describe("safetensors", () => {
  const dir = mkdtempSync(join(tmpdir(), "ropekit-st-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads F32, and widens F16 (subnormals, ∞) and BF16 to f32 exactly", () => {
    const t = parseSafetensors(sample());
    expect(Array.from(t["f32"]?.data ?? [])).toEqual([1.5, -2]);
    expect(t["f16"]?.shape).toEqual([2, 2]);
    expect(Array.from(t["f16"]?.data ?? [])).toEqual([1.5, -2, 2 ** -24, Number.POSITIVE_INFINITY]);
    expect(Array.from(t["bf16"]?.data ?? [])).toEqual([1.5, -2]);
  });

  it("round-trips what encodeSafetensors writes, f32 and f64", () => {
    const a = { data: Float32Array.from([0.1, -3, 7]), shape: [3] };
    const b = { data: Float64Array.from([Math.PI, 1e-300]), shape: [1, 2] };
    const back = parseSafetensors(encodeSafetensors({ b, a }));
    expect(back["a"]?.data).toEqual(a.data);
    expect(back["b"]?.data).toEqual(b.data);
    expect(back["b"]?.shape).toEqual([1, 2]);
  });

  it("keepHalf: F16 and BF16 stay Uint16Array bits with their dtype, and round-trip through the encoder", async () => {
    const t = parseSafetensors(sample(), { keepHalf: true });
    expect(t["f16"]?.dtype).toBe("float16");
    expect(Array.from(t["f16"]?.data ?? [])).toEqual([0x3e00, 0xc000, 0x0001, 0x7c00]);
    expect(t["f16"]?.data).toBeInstanceOf(Uint16Array);
    expect(t["bf16"]?.dtype).toBe("bfloat16");
    expect(Array.from(t["bf16"]?.data ?? [])).toEqual([0x3fc0, 0xc000]);
    expect(t["f32"]?.dtype).toBeUndefined();
    const back = parseSafetensors(encodeSafetensors(t), { keepHalf: true });
    expect(back["f16"]).toEqual(t["f16"]);
    expect(back["bf16"]).toEqual(t["bf16"]);
    expect(Array.from((await loadSafetensors(sample(), { keepHalf: true }))["bf16"]?.data ?? [])).toEqual([
      0x3fc0, 0xc000,
    ]);
    expect(codeOf(() => parseSafetensors(sample(), { keephalf: true } as never))).toBe("INVALID_OPTION");
  });

  it("loads from a path and a file: URL", async () => {
    const path = join(dir, "w.safetensors");
    writeFileSync(path, sample());
    expect(Array.from((await loadSafetensors(path))["bf16"]?.data ?? [])).toEqual([1.5, -2]);
    expect(Array.from((await loadSafetensors(pathToFileURL(path)))["f32"]?.data ?? [])).toEqual([1.5, -2]);
  });

  it("a truncated or malformed file → INVALID_FORMAT; another dtype → NOT_IMPLEMENTED", async () => {
    const good = sample();
    expect(codeOf(() => parseSafetensors(good.subarray(0, good.length - 1)))).toBe("INVALID_FORMAT");
    expect(codeOf(() => parseSafetensors(good.subarray(0, 5)))).toBe("INVALID_FORMAT");
    const badJson = good.slice();
    badJson[9] = 0x7b + 1; // the header's first byte is no longer "{"
    expect(codeOf(() => parseSafetensors(badJson))).toBe("INVALID_FORMAT");
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(codeOf(() => parseSafetensors(huge))).toBe("INVALID_FORMAT");
    const wrongSize = file({ x: { dtype: "F32", shape: [3], bytes: [0, 0, 0, 0, 0, 0, 0, 0] } });
    expect(codeOf(() => parseSafetensors(wrongSize))).toBe("INVALID_FORMAT");
    const overlap = file(
      {
        x: { dtype: "F32", shape: [1], bytes: [0, 0, 0, 0] },
        y: { dtype: "F32", shape: [1], bytes: [0, 0, 0, 0] },
      },
      (h) => {
        (h["y"] as { data_offsets: number[] }).data_offsets = [0, 4];
      },
    );
    expect(codeOf(() => parseSafetensors(overlap))).toBe("INVALID_FORMAT");
    expect(codeOf(() => parseSafetensors(file({ x: { dtype: "I8", shape: [1], bytes: [1] } })))).toBe(
      "NOT_IMPLEMENTED",
    );
    await expect(loadSafetensors(join(dir, "missing.safetensors"))).rejects.toMatchObject({
      code: "INVALID_OPTION",
    });
  });
});
