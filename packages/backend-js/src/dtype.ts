import { requireFloat32 as check } from "@ropekit/core";

/** backend-js computes and stores in f32: tensors it writes must be Float32Array. */
export function requireFloat32(data: unknown, name: string): Float32Array {
  return check(data, name, "backend-js");
}
