import type { WorkerPool } from "./pool.js";
import { type KernelExports, callKernel } from "./wasm-module.js";
import type { KernelName } from "./worker-protocol.js";

/** One kernel's calls: the argument list of each part of the work. */
export type Parts = readonly (readonly number[])[];

/** Where an op's kernels run: on this thread only (the sync ops), or split over the worker pool too. */
export interface Exec {
  readonly kernels: KernelExports;
  /** Threads one call may split its work over (this one included). */
  readonly threads: number;
  /**
   * Runs `kernel` once per part: part 0 on this thread, the others on the pool's workers. Returns
   * undefined when every part ran here, else a promise that settles once every part has ended — a failed
   * part included, since the call's memory is freed when it fails and a part still running would use it.
   */
  run(kernel: KernelName, parts: Parts): Promise<void> | undefined;
}

/** Kernels run on this thread, or over `pool` too when there is one. */
export function execution(kernels: KernelExports, pool?: WorkerPool): Exec {
  const here = (kernel: KernelName, parts: Parts) => {
    for (const args of parts) callKernel(kernels, kernel, args);
  };
  return {
    kernels,
    get threads() {
      return 1 + (pool?.size ?? 0);
    },
    run(kernel, parts) {
      if (!pool || parts.length === 1) {
        here(kernel, parts);
        return undefined;
      }
      // Post to the workers first, then run part 0 here while they work.
      const others = pool.run(kernel, parts.slice(1));
      try {
        here(kernel, parts.slice(0, 1));
      } catch (error) {
        const fail = () => {
          throw error;
        };
        return others.then(fail, fail);
      }
      return others;
    },
  };
}

/** [start, end) ranges splitting n items into at most `parts` non-empty pieces. */
export function split(n: number, parts: number): [number, number][] {
  const count = Math.max(1, Math.min(parts, n));
  return Array.from({ length: count }, (_, i) => [
    Math.floor((i * n) / count),
    Math.floor(((i + 1) * n) / count),
  ]);
}
