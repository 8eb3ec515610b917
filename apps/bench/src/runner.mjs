// Runs (configuration, contender) pairs, each in its own child process, and records what happened to each:
// a measurement, a wrong result, or a failure (error, crash, out of memory, timeout) — and goes on.
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const childScript = fileURLToPath(import.meta.resolve("@ropekit/benchmarks/child"));
const hasXvfb = spawnSync("sh", ["-c", "command -v xvfb-run"], { stdio: "ignore" }).status === 0;

/** Needs a display (headless-gl): run the child under xvfb-run when there is none and it exists. */
const needsDisplay = (contender) => contender === "gpujs-headlessgl" && !process.env.DISPLAY && hasXvfb;

const OUT_OF_MEMORY =
  /out of memory|allocation failed|Cannot allocate|ENOMEM|Invalid typed array length|Array buffer allocation/i;

/** Runs one pair in a child process; never throws. `script` overrides the child (tests). */
export function runPair({ config, contender, quick, timeoutMs, script = childScript }) {
  return new Promise((resolve) => {
    const started = performance.now();
    const payload = JSON.stringify({ config, contender, quick });
    const argv = [script, payload];
    const [command, args] = needsDisplay(contender)
      ? ["xvfb-run", ["-a", process.execPath, ...argv]]
      : [process.execPath, argv];
    // Its own process group, so a timeout kills everything it started (xvfb-run's Xvfb and node too).
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: process.env,
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr = (stderr + d).slice(-4000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const base = { config: config.id, contender, wallMs: performance.now() - started };
      const last = stdout.trim().split("\n").at(-1) ?? "";
      let parsed;
      try {
        parsed = last.startsWith("{") ? JSON.parse(last) : undefined;
      } catch {
        parsed = undefined;
      }
      if (timedOut) {
        resolve({
          ...base,
          status: "timeout",
          message: `no result within ${Math.round(timeoutMs / 1000)} s`,
        });
      } else if (parsed) {
        const status =
          parsed.status === "failed" && OUT_OF_MEMORY.test(parsed.message ?? "")
            ? "out-of-memory"
            : parsed.status;
        resolve({ ...base, ...parsed, status });
      } else {
        const lastLine = stderr.trim().split("\n").filter(Boolean).at(-1) ?? "";
        resolve({
          ...base,
          status: OUT_OF_MEMORY.test(stderr) ? "out-of-memory" : "crashed",
          message: `exit ${signal ?? code}${lastLine ? `: ${lastLine.slice(0, 200)}` : ""}`,
        });
      }
    });
  });
}

/**
 * Runs every pair in order. After a contender fails (error, timeout, crash, out of memory) on one configuration
 * of a series (`config.series`, e.g. attention prefill by length), its larger configurations of that
 * series are skipped and say why: they would fail the same way, only slower. `runOne` runs one pair
 * (default: a Node child process; the browser driver passes its page runner).
 */
export async function runAll(pairs, { quick, timeoutMs, onStart, onResult, script, runOne = runPair }) {
  const results = [];
  const failedAt = new Map();
  for (const [i, { config, contender }] of pairs.entries()) {
    const key = `${config.series ?? config.id}|${contender}`;
    let result;
    if (config.series && failedAt.has(key)) {
      result = {
        config: config.id,
        contender,
        status: "skipped",
        message: `failed at a smaller size (${failedAt.get(key)})`,
      };
    } else {
      onStart?.(i, pairs.length, config, contender);
      result = await runOne({ config, contender, quick, timeoutMs, script });
      if (["timeout", "crashed", "out-of-memory", "failed"].includes(result.status))
        failedAt.set(key, `${config.id}: ${result.status}`);
    }
    results.push(result);
    onResult?.(i, pairs.length, result);
  }
  return results;
}
