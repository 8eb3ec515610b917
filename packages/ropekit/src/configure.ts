/**
 * The top-level API's settings (`configure()`): threads for backend-wasm ("auto" by default) and an
 * explicit backend. backend-wasm is registered here with a factory that reads the setting when the
 * backend is created, so a new setting takes effect by registering it again.
 */
import { createWasmBackend, wasmRegistration } from "@ropekit/backend-wasm";
import {
  type BackendRegistration,
  type PickedBackend,
  RopekitError,
  checkOptions,
  describeValue,
} from "@ropekit/core";
import { type ThreadsChoice, type ThreadsSetting, checkThreads, chooseThreads } from "./threads.js";

/** Options of `configure()`. */
export interface ConfigureOptions {
  /**
   * Threads backend-wasm computes on, this one included: "auto" (the default) takes the available
   * parallelism (at most 8) wherever SharedArrayBuffer is usable — always in Node, in a browser only on
   * a crossOriginIsolated page — and one thread elsewhere; a number asks for exactly that many.
   */
  threads?: ThreadsSetting;
  /**
   * The backend the top-level ops run on, by name ("wasm", "js", "reference", …), as `{ backend }` of
   * `pickBackend`; `undefined` goes back to picking by priority.
   */
  backend?: string | undefined;
}

/** What `getBackend()` says about threads beside the picked backend. */
export interface ThreadsReport {
  /** Threads the picked backend computes on (from its description: what really runs). */
  readonly threads: number;
  /** Why that many, e.g. "2 threads: auto, 2 cores" or "1 thread: SharedArrayBuffer unavailable (…)". */
  readonly threadsReason: string;
}

const settings: { threads: ThreadsSetting; backend: string | undefined } = {
  threads: "auto",
  backend: undefined,
};
/** The choice behind the wasm backend created last from `wasmTopLevelRegistration`. */
let chosen: ThreadsChoice | undefined;

/**
 * Checks and stores `configure()`'s options (INVALID_OPTION for an unknown name or a bad value, before
 * anything changes); says whether the thread setting changed.
 */
export function applyConfigure(options: unknown): { threadsChanged: boolean } {
  checkOptions(options, ["threads", "backend"]);
  if (options === undefined) return { threadsChanged: false };
  const o = options as ConfigureOptions;
  const threads = o.threads === undefined ? undefined : checkThreads(o.threads);
  if (o.backend !== undefined && (typeof o.backend !== "string" || o.backend === "")) {
    throw new RopekitError(
      "INVALID_OPTION",
      `options.backend must be a backend name, got ${describeValue(o.backend)}`,
      "options.backend",
    );
  }
  if ("backend" in o) settings.backend = o.backend;
  if (threads === undefined) return { threadsChanged: false };
  const changed = threads !== settings.threads;
  settings.threads = threads;
  return { threadsChanged: changed };
}

/** The backend `configure()` named, if any. */
export function configuredBackend(): string | undefined {
  return settings.backend;
}

/** backend-wasm's registration, creating the backend with the configured threads (read at creation). */
export function wasmTopLevelRegistration(): BackendRegistration {
  return {
    ...wasmRegistration,
    create: async () => {
      const choice = chooseThreads(settings.threads);
      try {
        const backend = await createWasmBackend({ threads: choice.threads });
        chosen = choice;
        return backend;
      } catch (error) {
        // A runtime whose workers cannot start (an embedder without Worker) still gets wasm, on one thread.
        if (choice.threads === 1) throw error;
        const backend = await createWasmBackend({ threads: 1 });
        const why = error instanceof Error ? error.message : String(error);
        chosen = { threads: 1, reason: `1 thread: ${choice.threads} threads failed to start (${why})` };
        return backend;
      }
    },
  };
}

const plural = (n: number) => `${n} thread${n === 1 ? "" : "s"}`;

/** The thread count of a picked backend and the reason for it. */
export function threadsReport(picked: PickedBackend): ThreadsReport {
  const { threads, notes } = picked.description;
  if (picked.name === wasmRegistration.name && chosen !== undefined) {
    // The backend may start fewer than asked (a runtime without wasm threads): its notes say why.
    if (threads === chosen.threads) return { threads, threadsReason: chosen.reason };
    return {
      threads,
      threadsReason: `${plural(threads)}: ${notes ?? `backend ${picked.name} started fewer`}`,
    };
  }
  const where = threads === 1 ? "computes on one thread" : `computes on ${threads} threads`;
  return { threads, threadsReason: `${plural(threads)}: backend ${picked.name} (${picked.mode}) ${where}` };
}
