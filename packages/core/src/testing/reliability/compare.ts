import { expect } from "vitest";

/**
 * Checks `actual` against the reference's `expected` the way a user reads a result: the same entries are
 * NaN, the same are +∞ and −∞ (after rounding the reference to f32 for an f32 backend, so a value past
 * f32's range is ∞ on both sides), and the finite entries agree to `tolerance` relative to the largest
 * finite |expected|.
 */
export function expectSameNumbers(
  actual: ArrayLike<number> | undefined,
  expected: ArrayLike<number> | undefined,
  tolerance: number,
  f32: boolean,
  what: string,
): void {
  expect(actual, `${what}: missing`).toBeDefined();
  expect(expected, `${what}: reference missing`).toBeDefined();
  const a = actual as ArrayLike<number>;
  const e = expected as ArrayLike<number>;
  expect(a.length, `${what}: length`).toBe(e.length);
  let scale = 0;
  for (let i = 0; i < e.length; i++) {
    const x = f32 ? Math.fround(e[i] as number) : (e[i] as number);
    if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
  }
  scale ||= 1;
  for (let i = 0; i < e.length; i++) {
    const x = f32 ? Math.fround(e[i] as number) : (e[i] as number);
    const y = a[i] as number;
    if (Number.isFinite(x)) {
      if (!(Math.abs(y - x) <= tolerance * scale)) {
        expect.fail(`${what}[${i}] = ${y}, reference ${x} (tolerance ${tolerance} × ${scale})`);
      }
    } else if (!Object.is(y, x) && !(Number.isNaN(x) && Number.isNaN(y))) {
      expect.fail(`${what}[${i}] = ${y}, reference ${x}`);
    }
  }
}

/** Every typed array reachable in `value` (one level of tensors, options and arrays of them). */
function arraysIn(value: unknown, out: ArrayBufferView[] = [], depth = 0): ArrayBufferView[] {
  if (depth > 3 || value === null || typeof value !== "object") return out;
  if (ArrayBuffer.isView(value)) {
    out.push(value);
    return out;
  }
  for (const v of Object.values(value as object)) arraysIn(v, out, depth + 1);
  return out;
}

/** A byte copy of every typed array in `args`; `unchanged()` says whether they still hold those bytes. */
export function snapshotInputs(args: readonly unknown[]): { unchanged(): boolean } {
  const views = arraysIn(args).filter((v) => v.byteLength > 0);
  const copies = views.map((v) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice());
  return {
    unchanged: () =>
      views.every((v, i) => {
        const now = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        const then = copies[i] as Uint8Array;
        return now.length === then.length && now.every((b, j) => b === then[j]);
      }),
  };
}

/** Runs `call` and returns the RopekitError it raised, failing the test if it raised anything else. */
export async function ropekitErrorOf(
  call: () => unknown,
): Promise<{ code: string; argument: string | undefined; message: string } | undefined> {
  try {
    await call();
    return undefined;
  } catch (error) {
    // By name, not instanceof: a backend may be bundled with its own copy of core.
    expect((error as Error).name, `expected a RopekitError, got ${String(error)}`).toBe("RopekitError");
    const e = error as { code: string; argument?: string; message: string };
    return { code: e.code, argument: e.argument, message: e.message };
  }
}
