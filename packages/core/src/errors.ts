/**
 * Stable error codes. Code that handles ropekit errors should switch on `code`, never on the message:
 * messages may be reworded, codes may not.
 */
export type RopekitErrorCode =
  /** A tensor's data length does not match its shape, or a dimension is not a positive integer. */
  | "INVALID_SHAPE"
  /** `layout` is not "bshd" / "bhsd", or a tensor's layout does not fit the call. */
  | "INVALID_LAYOUT"
  /** The tensor's element type is not the one this backend computes in. */
  | "INVALID_DTYPE"
  /** The typed array's buffer was detached (transferred to a worker, say). */
  | "DETACHED_BUFFER"
  /** rotaryDim is odd, zero, larger than headDim, or does not fit the tensor's last dimension. */
  | "INVALID_ROTARY_DIM"
  /** A position (offset or id) is negative, non-integer, not finite, or the id array has the wrong length. */
  | "INVALID_POSITIONS"
  /** A position is valid but not covered by the RopeTable that was passed. */
  | "POSITION_OUT_OF_RANGE"
  /** A numeric option or spec field is NaN, infinite or outside its allowed range. */
  | "INVALID_OPTION"
  /** A HuggingFace config is missing a field that the chosen rope type needs. */
  | "MISSING_CONFIG_FIELD"
  /** A HuggingFace config field has the wrong type or an impossible value. */
  | "INVALID_CONFIG"
  /** `rope_type` (or legacy `type`) is not one ropekit knows. */
  | "UNKNOWN_ROPE_TYPE"
  /** No backend with that name is registered. */
  | "UNKNOWN_BACKEND"
  /** The backend exists but cannot run here (its probe failed), or none can. */
  | "BACKEND_UNAVAILABLE"
  /** The backend does not implement this op. */
  | "NOT_IMPLEMENTED"
  /** The backend's memory cannot grow to hold the tensors (e.g. past the 4 GiB of wasm32). */
  | "OUT_OF_MEMORY"
  /** A tensor is larger than the backend can address (e.g. past 2^24 elements per GPU kernel input). */
  | "TOO_LARGE"
  /** A worker thread of the backend died or failed; the call did not complete. */
  | "WORKER_FAILED"
  /** The backend, or a tensor it owns, was used after dispose(). */
  | "DISPOSED"
  /** A resident tensor (data in a backend's own memory) was given to a backend that does not hold it. */
  | "WRONG_BACKEND"
  /** A file (safetensors) is truncated or malformed: its header, offsets or sizes do not hold. */
  | "INVALID_FORMAT";

/** The one error type ropekit throws for bad input or an unusable backend. */
export class RopekitError extends Error {
  readonly code: RopekitErrorCode;
  /** The argument or config field the error is about, e.g. `"x.shape"` or `"rope_scaling.factor"`. */
  readonly argument: string | undefined;

  constructor(code: RopekitErrorCode, message: string, argument?: string) {
    super(message);
    this.name = "RopekitError";
    this.code = code;
    this.argument = argument;
  }
}

/** True for a RopekitError, optionally with the given code. */
export function isRopekitError(value: unknown, code?: RopekitErrorCode): value is RopekitError {
  return value instanceof RopekitError && (code === undefined || value.code === code);
}

/** Short, readable rendering of an arbitrary value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Float32Array).length})`;
  if (Array.isArray(value)) return `array(${value.length})`;
  return typeof value;
}
