import { RopekitError } from "./errors.js";

/**
 * The most elements ropekit allocates for one array: 2^30 (4 GiB of f32). Past it a request is refused
 * with TOO_LARGE before any memory is touched or any loop runs, so a huge but valid-looking size fails
 * at once instead of after minutes.
 */
export const MAX_ELEMENTS = 2 ** 30;

/** Throws TOO_LARGE unless `count` elements (a product of sizes, maybe not an integer) can be allocated. */
export function checkElementCount(count: number, argument: string): number {
  if (!(count <= MAX_ELEMENTS)) {
    throw new RopekitError(
      "TOO_LARGE",
      `${argument} needs ${count} elements, more than the ${MAX_ELEMENTS} ropekit allocates for one array`,
      argument,
    );
  }
  return count;
}

/** `new Float32Array(count)` with TOO_LARGE past MAX_ELEMENTS and OUT_OF_MEMORY when the runtime refuses. */
export function allocFloat32(count: number, argument: string): Float32Array {
  return allocate(Float32Array, count, argument);
}

/** `new Float64Array(count)`, checked like `allocFloat32`. */
export function allocFloat64(count: number, argument: string): Float64Array {
  return allocate(Float64Array, count, argument);
}

function allocate<T>(
  Type: { new (n: number): T; BYTES_PER_ELEMENT: number },
  count: number,
  argument: string,
): T {
  checkElementCount(count, argument);
  try {
    return new Type(count);
  } catch (error) {
    throw outOfMemory(error, count * Type.BYTES_PER_ELEMENT, argument);
  }
}

function outOfMemory(error: unknown, bytes: number, argument: string): RopekitError {
  return new RopekitError(
    "OUT_OF_MEMORY",
    `could not allocate ${bytes} bytes for ${argument}: ${(error as Error).message}`,
    argument,
  );
}
