// ropekit wasm kernels. Memory is owned by the host (imported); kernels take element offsets as byte
// pointers and never allocate.
export { ropeApply, addRows } from "./rope";
export { linear } from "./linear";
export { rmsNorm } from "./norm";
export { attention, attentionScratchBytes, BLOCK_Q, BLOCK_K } from "./attention";

/** First byte the host may use: everything below belongs to the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
