// Runs (configuration, contender) pairs, each in its own child process, and records what happened to each:
// a measurement, a wrong result, or a failure (error, crash, out of memory, timeout) — and goes on. A
// contender that cannot run on this machine at all is recorded once as unavailable and not run again.
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { unavailableReason } from "./unavailable.mjs";

const childScript = fileURLToPath(import.meta.resolve("@ropekit/benchmarks/child"));
const hasXvfb = spawnSync("sh", ["-c", "command -v xvfb-run"], { stdio: "ignore" }).status === 0;

/** Needs a display (headless-gl): run the child under xvfb-run when there is none and it exists. */
const needsDisplay = (contender) => contender === "gpujs-headlessgl" && !process.env.DISPLAY && hasXvfb;

const OUT_OF_MEMORY =
  /out of memory|allocation failed|Cannot allocate|ENOMEM|Invalid typed array length|Array buffer allocation/i;

/**
 * A child may report how far it got, on stderr, one line each: this prefix and a JSON object such as
 * `{"phase":"timing","samples":12}`. Those lines go to `onProgress`, not into the error message.
 */
export const PROGRESS_PREFIX = "ropekit-bench:progress ";

/** The progress object of one line of a child's stderr, or undefined when it is not a progress line. */
export function parseProgress(line) {
  if (!line.startsWith(PROGRESS_PREFIX)) return undefined;
  try {
    const p = JSON.parse(line.slice(PROGRESS_PREFIX.length));
    return p && typeof p === "object" && !Array.isArray(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs one pair in a child process; never throws. `script` overrides the child (tests); `onProgress`
 * gets what the child reports while it runs.
 */
export function runPair({ config, contender, quick, timeoutMs, script = childScript, onProgress }) {
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
    let partial = "";
    child.stderr.setEncoding("utf8"); // whole characters, even across chunks
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      const lines = (partial + d).split("\n");
      partial = lines.pop();
      for (const line of lines) {
        const progress = parseProgress(line);
        if (progress) onProgress?.(progress);
        else stderr = `${stderr}${line}\n`.slice(-4000);
      }
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
      if (partial && !parseProgress(partial)) stderr = `${stderr}${partial}`.slice(-4000);
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
 * series are skipped and say why: they would fail the same way, only slower. A contender that cannot run
 * here at all (see unavailable.mjs) gets status "unavailable" and is not run again: its other pairs are
 * recorded as unavailable with the same reason, without a process, and without `onStart` or `onResult`.
 * `runOne` runs one pair (default: a Node child process; the browser driver passes its page runner);
 * `onProgress(i, n, progress)` gets what a running pair reports.
 */
export async function runAll(
  pairs,
  { quick, timeoutMs, onStart, onResult, onProgress, script, runOne = runPair },
) {
  const results = [];
  const failedAt = new Map();
  const unavailable = new Map();
  for (const [i, { config, contender }] of pairs.entries()) {
    const key = `${config.series ?? config.id}|${contender}`;
    if (unavailable.has(contender)) {
      results.push({
        config: config.id,
        contender,
        status: "unavailable",
        message: unavailable.get(contender),
      });
      continue;
    }
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
      result = await runOne({
        config,
        contender,
        quick,
        timeoutMs,
        script,
        onProgress: (p) => onProgress?.(i, pairs.length, p),
      });
      const reason = unavailableReason(result);
      if (reason !== undefined) {
        unavailable.set(contender, reason);
        result = { ...result, status: "unavailable", message: reason };
      } else if (["timeout", "crashed", "out-of-memory", "failed"].includes(result.status))
        failedAt.set(key, `${config.id}: ${result.status}`);
    }
    results.push(result);
    onResult?.(i, pairs.length, result);
  }
  return results;
}
