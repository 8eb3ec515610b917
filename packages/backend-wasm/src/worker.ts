// A backend-wasm worker: instantiates the kernels over the shared memory it is sent, then runs the
// kernel calls it receives. Works as a Node worker_threads worker and as a browser module worker.
import { type KernelExports, callKernel, instantiate } from "./wasm-module.js";
import type { WorkerReply, WorkerRequest } from "./worker-protocol.js";

let kernels: KernelExports | undefined;

function handle(message: WorkerRequest): WorkerReply {
  try {
    if ("init" in message) {
      kernels = instantiate(message.init.module, message.init.memory);
      return { id: message.id };
    }
    if (!kernels) return { id: message.id, error: "not initialised" };
    callKernel(kernels, message.kernel, message.args);
    return { id: message.id };
  } catch (error) {
    return { id: message.id, error: error instanceof Error ? error.message : String(error) };
  }
}

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
if (isNode) {
  // No top-level await: bundlers may emit workers as classic scripts (Vite's default "iife").
  const threads = "node:worker_threads";
  void (import(/* @vite-ignore */ threads) as Promise<typeof import("node:worker_threads")>).then(
    ({ parentPort }) => {
      parentPort?.on("message", (m: WorkerRequest) => parentPort.postMessage(handle(m)));
    },
  );
} else {
  const scope = globalThis as unknown as {
    onmessage: (e: MessageEvent<WorkerRequest>) => void;
    postMessage: (r: WorkerReply) => void;
  };
  scope.onmessage = (e) => scope.postMessage(handle(e.data));
}
