// Node, Bun and Deno (package.json `imports` condition `node`): files by path, workers from worker_threads.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { WORKER_HANDLER } from "../worker-source.js";
import type { Platform } from "./types.js";

// A scheme of two letters or more: "C:\…" is a Windows path, not a URL.
const HAS_SCHEME = /^[a-z][a-z0-9+.-]+:/i;

const WORKER_SOURCE = `${WORKER_HANDLER}
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (message) => parentPort.postMessage(handle(message)));
`;

/** The Node-like runtimes' platform. */
export const platform: Platform = {
  resolveLocation(location) {
    return HAS_SCHEME.test(location) ? new URL(location) : pathToFileURL(resolve(location));
  },

  async readAsset(url) {
    if (url.protocol === "file:") {
      const file = await readFile(url);
      return new Uint8Array(
        file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer,
      );
    }
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
    return new Uint8Array(await response.arrayBuffer());
  },

  spawnWorker(events) {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on("message", events.reply);
    worker.on("error", (e) => events.failed(e.message));
    worker.on("exit", (code) => events.failed(`exited with code ${code}`));
    return {
      post: (m) => worker.postMessage(m),
      setIdle: (idle) => (idle ? worker.unref() : worker.ref()),
      terminate: () => void worker.terminate(),
    };
  },
};
