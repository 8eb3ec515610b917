// The worker's code as source text. Workers start from this text (a Blob URL in browsers, `eval` in
// Node), so there is no worker file that a bundler must find, emit and rewrite — esbuild emits none, and
// Vite's dev pre-bundling breaks `new URL("./worker.js", import.meta.url)`. Plain ES2020 without
// imports: the kernels are instantiated over the shared memory the pool sends with the compiled module.

/**
 * Defines `handle(message) → reply` (see worker-protocol.ts): `init` instantiates the kernels, every
 * other message runs one kernel call. The platform appends the lines that wire it to its message port.
 */
export const WORKER_HANDLER = `"use strict";
let kernels;
function handle(message) {
  try {
    if ("init" in message) {
      const { module, memory } = message.init;
      kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
      return { id: message.id };
    }
    if (!kernels) return { id: message.id, error: "not initialised" };
    kernels[message.kernel](...message.args);
    return { id: message.id };
  } catch (error) {
    return { id: message.id, error: error instanceof Error ? error.message : String(error) };
  }
}
`;
