import { RopekitError } from "./errors.js";
import type { Dtype, TensorData } from "./types.js";

/**
 * Data that lives in a backend's own memory (a GPU buffer, say) instead of a host array: the `data` of a
 * resident tensor. Core validates a tensor holding it by `length` and `dtype` alone, hands it unchanged to
 * the kernels of the backend that holds it, and refuses it everywhere else (WRONG_BACKEND). Core steps
 * that need host values — the f64 repair of attention rows an f32 kernel cannot compute exactly,
 * attention sinks — read it with `read()` and store their result with `write()`: explicitly, never by
 * skipping the step.
 *
 * @example
 * ```ts
 * if (isResidentData(x.data)) console.log(`${x.data.length} ${x.data.dtype} values on ${x.data.residentOn}`);
 * ```
 */
export interface ResidentData {
  /** The name of the backend that holds the data (e.g. "webgpu"). */
  readonly residentOn: string;
  /** How the elements are stored. */
  readonly dtype: Dtype;
  /** Elements. */
  readonly length: number;
  /** A host copy of the elements (half dtypes as Uint16Array bits). */
  read(): Promise<TensorData>;
  /** Overwrites the elements with `data` (same length and dtype). */
  write(data: TensorData): Promise<void>;
  /** Releases the memory; core calls it on resident temporaries it made (fused RoPE's rotated q and k). */
  dispose(): void;
}

/** True when `value` is resident data (see `ResidentData`) rather than a host array. */
export function isResidentData(value: unknown): value is ResidentData {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof (value as { residentOn?: unknown }).residentOn === "string" &&
    typeof (value as { length?: unknown }).length === "number" &&
    typeof (value as { read?: unknown }).read === "function"
  );
}

/**
 * Raises WRONG_BACKEND when `data` is resident data (`ResidentData`, held by a backend): for code that reads
 * host values. `hint` says what to do instead (default: read it to a host array first).
 *
 * @example
 * ```ts
 * requireHostData(x.data, "x.data"); // WRONG_BACKEND for a WebgpuTensor's data
 * ```
 */
export function requireHostData(data: unknown, name: string, hint?: string): void {
  if (!isResidentData(data)) return;
  throw new RopekitError(
    "WRONG_BACKEND",
    `${name} lives on backend ${data.residentOn}: ${hint ?? "read() it to a host array first"}`,
    name,
  );
}
