// A contender that cannot run on this machine at all (a GPU mode without GL, WebGPU without an adapter,
// wasm without SIMD, a peer that is not installed, no Chromium) is not a failure of one configuration: it
// is said once, as a note, and its other configurations are not run. Pure functions, tested on their own.

/**
 * What a backend says when it cannot start here, as opposed to failing on a configuration it started on.
 * The child reports only a message today; a child that reports `status: "unavailable"` needs none of these.
 */
const CANNOT_START = [
  /^gpu\.js cannot run in mode /, // backend-gpujs: gpu.js refused the mode (no headless-gl, no WebGL2, no WebGPU)
  /^gpu\.js ran \S+, not \S+/, // the bench's own check: gpu.js fell back to another mode
  /^gpu\.js probe kernel computed /, // the mode starts but its probe kernel is wrong
  /WebAssembly SIMD, which this runtime does not validate/, // backend-wasm
  /no WebGPU \(no navigator\.gpu\)|offers no adapter here|WebGPU requestAdapter failed/, // backend-webgpu
  /needs the optional peer dependency/,
  /^Cannot find package '[^']+'/, // a peer library that is not installed
  /^no Chromium\b/, // the browser half, without a browser
];

/** Why `result` says its contender cannot run here at all, or undefined when it is an ordinary result. */
export function unavailableReason(result) {
  if (result.status === "unavailable") return result.message ?? "not available here";
  if (result.status !== "failed" || !result.message) return undefined;
  return CANNOT_START.some((re) => re.test(result.message)) ? result.message : undefined;
}

/**
 * The notes for the unavailable results of a run: one per reason, with the contenders it names and how many
 * (configuration, contender) pairs were not run because of it.
 */
export function unavailableNotes(results) {
  const byReason = new Map();
  for (const r of results) {
    if (r.status !== "unavailable") continue;
    const note = byReason.get(r.message) ?? { contenders: [], reason: r.message, pairs: 0 };
    if (!note.contenders.includes(r.contender)) note.contenders.push(r.contender);
    note.pairs += 1;
    byReason.set(r.message, note);
  }
  return [...byReason.values()];
}

/** One line of text for a note. */
export function formatNote({ contenders, reason, pairs }) {
  const who = contenders.join(", ");
  return `${who} ${contenders.length > 1 ? "do" : "does"} not run on this machine, not measured (${pairs} pair${pairs === 1 ? "" : "s"}): ${reason}`;
}
