/**
 * How many threads the top-level API computes on, and why: "auto" takes the runtime's available
 * parallelism wherever SharedArrayBuffer is usable (always in Node; in a browser only on a
 * crossOriginIsolated page), one thread otherwise. The reason is a sentence the user can act on.
 */
import { RopekitError, describeValue } from "@ropekit/core";

/** The `threads` setting of `configure()`: "auto" or a thread count (this thread included). */
export type ThreadsSetting = "auto" | number;

/** Threads to start, and the sentence `getBackend()` reports for it. */
export interface ThreadsChoice {
  readonly threads: number;
  readonly reason: string;
}

/** Most threads "auto" starts: beyond this, worker start-up and memory grow faster than attention speeds up. */
export const AUTO_THREADS_CAP = 8;

/** What the runtime offers, as read from its globals (a parameter so tests can describe any runtime). */
export interface RuntimeThreads {
  /** Logical cores, or undefined when the runtime does not say. */
  readonly cores: number | undefined;
  /** Why SharedArrayBuffer cannot be used here, or undefined when it can. */
  readonly noSharedMemory: string | undefined;
}

/** Reads the cores and SharedArrayBuffer availability of this runtime. */
export function runtimeThreads(): RuntimeThreads {
  const g = globalThis as {
    navigator?: { hardwareConcurrency?: number };
    crossOriginIsolated?: boolean;
    process?: { getBuiltinModule?: (id: string) => unknown };
  };
  // Node ≥ 20.16 hands out `os` without an import a browser bundler would have to resolve.
  const os = g.process?.getBuiltinModule?.("os") as { availableParallelism?: () => number } | undefined;
  const cores = os?.availableParallelism?.() ?? g.navigator?.hardwareConcurrency;
  let noSharedMemory: string | undefined;
  if (typeof SharedArrayBuffer !== "function") {
    noSharedMemory =
      g.crossOriginIsolated === false
        ? "SharedArrayBuffer unavailable (page not cross-origin isolated: serve it with COOP/COEP headers)"
        : "SharedArrayBuffer unavailable in this runtime";
  } else if (g.crossOriginIsolated === false) {
    noSharedMemory =
      "SharedArrayBuffer unusable (page not cross-origin isolated: serve it with COOP/COEP headers)";
  }
  return { cores: Number.isSafeInteger(cores) && (cores as number) > 0 ? cores : undefined, noSharedMemory };
}

const plural = (n: number) => `${n} thread${n === 1 ? "" : "s"}`;

/** Checks a `threads` setting: "auto" or a positive integer; INVALID_OPTION otherwise. */
export function checkThreads(value: unknown, argument = "options.threads"): ThreadsSetting {
  if (value === "auto" || (typeof value === "number" && Number.isSafeInteger(value) && value >= 1))
    return value;
  throw new RopekitError(
    "INVALID_OPTION",
    `${argument} must be "auto" or a positive integer, got ${describeValue(value)}`,
    argument,
  );
}

/** The threads a setting gives in a runtime, with the reason in words. */
export function chooseThreads(
  setting: ThreadsSetting,
  runtime: RuntimeThreads = runtimeThreads(),
): ThreadsChoice {
  if (setting === 1) return { threads: 1, reason: "1 thread: configured" };
  if (runtime.noSharedMemory !== undefined)
    return { threads: 1, reason: `1 thread: ${runtime.noSharedMemory}` };
  if (setting !== "auto") return { threads: setting, reason: `${plural(setting)}: configured` };
  const cores = runtime.cores;
  if (cores === undefined)
    return { threads: 1, reason: "1 thread: auto, the runtime does not say how many cores" };
  const threads = Math.min(cores, AUTO_THREADS_CAP);
  const capped = threads < cores ? `, at most ${AUTO_THREADS_CAP}` : "";
  return { threads, reason: `${plural(threads)}: auto, ${cores} core${cores === 1 ? "" : "s"}${capped}` };
}
