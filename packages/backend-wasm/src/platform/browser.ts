// Browsers and every other runtime (package.json `imports` condition `default`): fetch, and module-free
// Web Workers from a Blob URL (a Blob URL worker inherits the page's cross-origin isolation).
import { WORKER_HANDLER } from "../worker-source.js";
import type { Platform } from "./types.js";

const WORKER_SOURCE = `${WORKER_HANDLER}
self.onmessage = (event) => self.postMessage(handle(event.data));
`;

let workerUrl: string | undefined;

/** The browsers' platform. */
export const platform: Platform = {
  resolveLocation(location) {
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    return base === undefined ? new URL(location) : new URL(location, base);
  },

  async readAsset(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
    return new Uint8Array(await response.arrayBuffer());
  },

  spawnWorker(events) {
    // One Blob URL for every worker, kept for the page's lifetime (workers may start again later).
    workerUrl ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    const worker = new Worker(workerUrl);
    worker.onmessage = (e: MessageEvent) => events.reply(e.data);
    worker.onerror = (e) => events.failed(e.message || "the worker failed to start");
    worker.onmessageerror = () => events.failed("a message could not be deserialised");
    return {
      post: (m) => worker.postMessage(m),
      setIdle: () => {},
      terminate: () => worker.terminate(),
    };
  },
};
