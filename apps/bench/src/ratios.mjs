// The figures of every row, from the raw measurements of one run: throughput, and ratios to the ceiling,
// to the best peer and to backend-js on the same configuration. Pure arithmetic, tested on its own.

/** Throughput of a result: GB/s for memory-bound work (bytes moved / time), GFLOP/s when flops are counted. */
export function throughput(result) {
  if (result.status !== "ok") return {};
  const out = { gbs: result.bytes / result.ms / 1e6 };
  if (result.flops !== undefined) out.gflops = result.flops / result.ms / 1e6;
  return out;
}

/**
 * The ceiling a result is measured against, as the time the ceiling would take for the same work:
 * - "copy-fresh" / "copy": the copy of the same bytes timed in the same process (into a new / an
 *   existing array), scaled to the bytes the op moves;
 * - "matmul": the SIMD matmul peak of one thread times the contender's threads, for the op's flops;
 * - a WebGPU contender (`result.gpu`): the WGSL copy and WGSL matmul of its adapter instead.
 */
export function ceilingMs(result, { matmulGflops }) {
  if (result.status !== "ok") return undefined;
  // A WebGPU contender carries its GPU's ceilings, measured in the same run (WGSL copy and matmul).
  if (result.gpu) {
    if (result.ceiling === "matmul")
      return result.flops === undefined ? undefined : result.flops / result.gpu.matmulGflops / 1e6;
    return result.bytes / result.gpu.copyGBs / 1e6;
  }
  if (result.ceiling === "matmul") {
    if (!matmulGflops || result.flops === undefined) return undefined;
    return result.flops / (matmulGflops * (result.threads ?? 1)) / 1e6;
  }
  const copyMs = result.ceiling === "copy-fresh" ? result.copyFreshMs : result.copyMs;
  // The copy moved 2 × copyElements × 4 bytes (read + write); the op moves result.bytes.
  const copyBytes = 2 * result.copyElements * 4;
  return (copyMs * result.bytes) / copyBytes;
}

/**
 * Adds `gbs`, `gflops`, `vsCeiling` (ceiling time / time: 1 = at the machine's limit), `vsBestPeer`
 * (fastest peer's time / time: > 1 = faster than every peer) and `vsJs` (backend-js time / time) to every
 * result. `isPeer(name)` tells peers from ropekit backends.
 */
export function withRatios(results, { matmulGflops, isPeer }) {
  const ok = results.filter((r) => r.status === "ok");
  const best = new Map();
  const js = new Map();
  for (const r of ok) {
    if (isPeer(r.contender))
      best.set(r.config, Math.min(best.get(r.config) ?? Number.POSITIVE_INFINITY, r.ms));
    if (r.contender === "js") js.set(r.config, r.ms);
  }
  return results.map((r) => {
    if (r.status !== "ok") return r;
    const ceiling = ceilingMs(r, { matmulGflops });
    return {
      ...r,
      ...throughput(r),
      vsCeiling: ceiling === undefined ? undefined : ceiling / r.ms,
      vsBestPeer: best.has(r.config) ? best.get(r.config) / r.ms : undefined,
      vsJs: js.has(r.config) ? js.get(r.config) / r.ms : undefined,
    };
  });
}
