// One (configuration, contender) pair in its own process, so peak RSS and thread settings are its own and
// a crash stops only this pair:  node child.mjs '<json {config, contender, quick}>'  → one JSON line.
import { pathToFileURL } from "node:url";
import { measure } from "./measure.mjs";

const { config, contender, quick } = JSON.parse(process.argv[2]);

/** The contender's prepare function: a ropekit backend, a peer, or (tests) a module path. */
async function preparer(name) {
  if (name.includes("/")) return (await import(pathToFileURL(name).href)).prepare;
  if (name === "tutorial-js")
    return async (c, inputs) => (await import("./contenders/tutorial.mjs")).tutorialRun(c, inputs);
  if (name.startsWith("tfjs-"))
    return async (c, inputs) => (await import("./contenders/tfjs.mjs")).tfjsRun(name, c, inputs);
  if (name.startsWith("ort-"))
    return async (c, inputs) => (await import("./contenders/ort.mjs")).ortRun(name, c, inputs);
  const { createBackend, ropekitRun } = await import("./contenders/ropekit.mjs");
  const backend = await createBackend(name);
  if (!backend) throw new Error(`unknown contender ${name}`);
  preparer.mode = backend.describe().mode;
  preparer.gpu = name === "webgpu";
  return async (c, inputs) => ropekitRun(backend, c, inputs);
}

let result;
try {
  const prepare = await preparer(contender);
  // Progress for the parent's live line, at most every 250 ms, on stderr (stdout carries the result).
  let last = 0;
  const onProgress = (p) => {
    const now = Date.now();
    if (now - last < 250 && p.phase === "timing") return;
    last = now;
    process.stderr.write(`ropekit-bench:progress ${JSON.stringify(p)}\n`);
  };
  result = await measure(config, prepare, { quick, onProgress });
  if (preparer.mode) result.mode = preparer.mode;
  // A GPU contender is measured against the GPU's own ceilings (WGSL copy and matmul), in this run.
  if (preparer.gpu && result.status === "ok") {
    onProgress({ phase: "gpu ceilings" });
    const { measureWebgpuCeilings } = await import("./ceilings/webgpu.mjs");
    result.gpu = await measureWebgpuCeilings({ quick });
  }
} catch (error) {
  result = {
    status: "failed",
    message: String(error?.message ?? error)
      .split("\n")[0]
      .slice(0, 300),
  };
}
result.peakRss = process.resourceUsage().maxRSS * 1024;
process.stdout.write(`\n${JSON.stringify(result)}\n`);
process.exit(0);
