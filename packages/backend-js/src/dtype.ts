import { RopekitError, describeValue } from "@ropekit/core";

/** backend-js computes and stores in f32: tensors it writes must be Float32Array. */
export function requireFloat32(data: unknown, name: string): Float32Array {
  if (!(data instanceof Float32Array)) {
    throw new RopekitError(
      "INVALID_DTYPE",
      `${name} must be a Float32Array for backend-js (it computes in f32), got ${describeValue(data)}; use the reference backend for f64`,
      name,
    );
  }
  return data;
}
