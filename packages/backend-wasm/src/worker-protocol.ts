/** Kernels a worker can run. */
export type KernelName = "attention" | "ropeApply" | "addRows" | "linear" | "rmsNorm";

/** Main thread → worker: instantiate once (id 0), then kernel calls. */
export type WorkerRequest =
  | {
      readonly id: number;
      readonly init: { readonly module: WebAssembly.Module; readonly memory: WebAssembly.Memory };
    }
  | { readonly id: number; readonly kernel: KernelName; readonly args: readonly number[] };

/** Worker → main thread: the call's id, and an error message if it failed. */
export interface WorkerReply {
  readonly id: number;
  readonly error?: string;
}
