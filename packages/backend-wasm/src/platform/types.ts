import type { WorkerReply, WorkerRequest } from "../worker-protocol.js";

/** The part of Node's and the browser's Worker that the pool uses. */
export interface WorkerPort {
  post(message: WorkerRequest): void;
  /** Node only: let the process exit while the worker idles. */
  setIdle(idle: boolean): void;
  terminate(): void;
}

/** What a worker reports back to the pool. */
export interface WorkerEvents {
  reply(reply: WorkerReply): void;
  /** The worker errored or exited: why. */
  failed(reason: string): void;
}

/**
 * What differs between Node-like runtimes and browsers. package.json's `imports` picks the file
 * (`#platform`: condition `node`, else `default`), so neither bundlers nor runtimes meet a variable
 * `import("node:…")`.
 */
export interface Platform {
  /** A location as the user wrote it (URL, or a path in Node; relative to the page or the working directory). */
  resolveLocation(location: string): URL;
  /** The bytes at `url`; rejects with the reason (HTTP status, file system error) in its message. */
  readAsset(url: URL): Promise<Uint8Array<ArrayBuffer>>;
  /** A worker running the kernel handler (from source text: no worker file for a bundler to emit). */
  spawnWorker(events: WorkerEvents): WorkerPort;
}
