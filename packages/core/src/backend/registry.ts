import { RopekitError, describeValue } from "../errors.js";
import { checkOptions } from "../options.js";
import type { Backend, BackendDescription, BackendRegistration } from "./contract.js";

/** Why a backend was not the one picked. */
export interface SkippedBackend {
  readonly name: string;
  readonly priority: number;
  readonly reason: string;
}

/** What `pickBackend()` chose, and why. */
export interface PickedBackend {
  readonly backend: Backend;
  readonly name: string;
  /** The mode that really runs (from the backend's description). */
  readonly mode: string;
  readonly description: BackendDescription;
  /** "explicit (ROPEKIT_BACKEND)", "highest priority supported", … */
  readonly reason: string;
  /** Every other registered backend with the reason it was not picked. */
  readonly skipped: readonly SkippedBackend[];
}

/** Options of `pickBackend()`. */
export interface PickOptions {
  /** Explicit choice; wins over the environment and the URL. */
  backend?: string;
  /** Environment to read ROPEKIT_BACKEND from. Default: `process.env` where it exists. */
  env?: Readonly<Record<string, string | undefined>>;
  /** URL whose `?backend=` is read. Default: `location.href` in a browser. */
  url?: string;
}

interface Entry {
  readonly registration: BackendRegistration;
  /** Initialised once: probe, then create. */
  init?: Promise<{ backend: Backend } | { error: string }>;
}

const entries = new Map<string, Entry>();

/** Registers a backend (replacing one of the same name, which is disposed if it was created). */
export function registerBackend(registration: BackendRegistration): void {
  if (
    registration === null ||
    typeof registration !== "object" ||
    typeof registration.name !== "string" ||
    registration.name === ""
  ) {
    throw new RopekitError(
      "INVALID_OPTION",
      "registration.name must be a non-empty string",
      "registration.name",
    );
  }
  if (typeof registration.priority !== "number" || !Number.isFinite(registration.priority)) {
    throw new RopekitError(
      "INVALID_OPTION",
      `registration.priority must be a finite number, got ${describeValue(registration.priority)}`,
      "registration.priority",
    );
  }
  unregisterBackend(registration.name);
  entries.set(registration.name, { registration });
}

/** Removes a backend; disposes it if it had been created. */
export function unregisterBackend(name: string): void {
  const entry = entries.get(name);
  if (!entry) return;
  entries.delete(name);
  void entry.init?.then((r) => {
    if ("backend" in r) r.backend.dispose();
  });
}

/** Names and priorities of the registered backends, highest priority first. */
export function listBackends(): { name: string; priority: number }[] {
  return [...entries.values()]
    .map((e) => ({ name: e.registration.name, priority: e.registration.priority }))
    .sort((a, b) => b.priority - a.priority);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function initialise(entry: Entry): Promise<{ backend: Backend } | { error: string }> {
  entry.init ??= (async () => {
    try {
      if (!(await entry.registration.isSupported()))
        return { error: "not supported in this runtime (probe failed)" };
    } catch (error) {
      return { error: `probe threw: ${errorText(error)}` };
    }
    try {
      return { backend: await entry.registration.create() };
    } catch (error) {
      return { error: `failed to initialise: ${errorText(error)}` };
    }
  })();
  return entry.init;
}

function explicitChoice(options: PickOptions): { name: string; source: string } | undefined {
  if (options.backend !== undefined) return { name: options.backend, source: "argument" };
  const env =
    options.env ??
    (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ??
    {};
  const fromEnv = env["ROPEKIT_BACKEND"];
  if (fromEnv) return { name: fromEnv, source: "ROPEKIT_BACKEND" };
  const href = options.url ?? (globalThis as { location?: { href?: string } }).location?.href;
  if (href) {
    try {
      const fromUrl = new URL(href).searchParams.get("backend");
      if (fromUrl) return { name: fromUrl, source: "URL ?backend=" };
    } catch {
      // not a URL: nothing to read
    }
  }
  return undefined;
}

/**
 * Picks the backend to run: an explicit choice (argument, then `ROPEKIT_BACKEND`, then `?backend=` in
 * the page URL) wins; otherwise the highest-priority backend whose probe passes. Each backend is probed
 * and created once. The result names the mode that runs and why every other backend was skipped.
 */
export async function pickBackend(options: PickOptions = {}): Promise<PickedBackend> {
  checkOptions(options, ["backend", "env", "url"]);
  const ordered = [...entries.values()].sort((a, b) => b.registration.priority - a.registration.priority);
  const explicit = explicitChoice(options);
  const skipped: SkippedBackend[] = [];
  const skip = (e: Entry, reason: string) =>
    skipped.push({ name: e.registration.name, priority: e.registration.priority, reason });
  const picked = (entry: Entry, backend: Backend, reason: string): PickedBackend => {
    const description = backend.describe();
    return { backend, name: entry.registration.name, mode: description.mode, description, reason, skipped };
  };

  if (explicit) {
    const entry = entries.get(explicit.name);
    if (!entry) {
      throw new RopekitError(
        "UNKNOWN_BACKEND",
        `backend ${JSON.stringify(explicit.name)} (from ${explicit.source}) is not registered; registered: ${ordered.map((e) => e.registration.name).join(", ") || "none"}`,
        explicit.source,
      );
    }
    const result = await initialise(entry);
    if ("error" in result) {
      throw new RopekitError(
        "BACKEND_UNAVAILABLE",
        `backend ${JSON.stringify(explicit.name)} (from ${explicit.source}) cannot run here: ${result.error}`,
        explicit.source,
      );
    }
    for (const e of ordered)
      if (e !== entry) skip(e, `not chosen: ${explicit.source} asked for ${explicit.name}`);
    return picked(entry, result.backend, `explicit choice (${explicit.source})`);
  }

  for (const [i, entry] of ordered.entries()) {
    const result = await initialise(entry);
    if ("error" in result) {
      skip(entry, result.error);
      continue;
    }
    const declined = entry.registration.declineAutoPick?.(result.backend);
    if (declined) {
      skip(entry, `not picked automatically: ${declined} (ask for it explicitly to use it)`);
      continue;
    }
    for (const rest of ordered.slice(i + 1)) skip(rest, `lower priority than ${entry.registration.name}`);
    return picked(
      entry,
      result.backend,
      i === 0 ? "highest priority backend" : "highest priority backend that can run here",
    );
  }
  throw new RopekitError(
    "BACKEND_UNAVAILABLE",
    `no registered backend can run here${skipped.length ? `: ${skipped.map((s) => `${s.name} (${s.reason})`).join("; ")}` : " (none registered)"}`,
    "backend",
  );
}
