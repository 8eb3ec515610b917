// Progress on stderr while the pairs run. On a terminal, the running pair's line is redrawn in place with
// its elapsed time (and what the child reports: phase, samples so far); elsewhere (a pipe, a CI log) a
// plain "still running" line now and then. Every finished pair gets one line, as before.
import { paintStatus, palette } from "./terminal.mjs";

/** "0.4 s", "12.3 s", "2 min 05 s". */
export function formatElapsed(ms) {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.floor(s);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}

const counter = (i, n) => `${String(i + 1).padStart(String(n).length)}/${n}`;

/** What the child said about itself so far: "timing, 37 samples" (empty when it said nothing). */
export function describeProgress(progress = {}) {
  const parts = [];
  if (typeof progress.phase === "string") parts.push(progress.phase);
  if (Number.isFinite(progress.samples))
    parts.push(`${progress.samples} sample${progress.samples === 1 ? "" : "s"}`);
  return parts.join(", ");
}

/** The line of a pair still running. */
export function runningLine({ where = "", i, n, config, contender, elapsedMs, progress }) {
  const said = describeProgress(progress);
  return `[${where}${counter(i, n)}] ${config} · ${contender}: running ${formatElapsed(elapsedMs)}${said ? ` (${said})` : ""}`;
}

/** The line of a finished pair. */
export function resultLine({ where = "", i, n, result: r, paint = palette(false) }) {
  const what =
    r.status === "ok"
      ? `ok ${r.ms.toFixed(r.ms < 10 ? 2 : 0)} ms`
      : r.status === "unavailable"
        ? `unavailable here, not run again (${r.message})`
        : `${r.status}${r.message ? ` (${r.message})` : ""}`;
  const wall = r.wallMs ? ` [${formatElapsed(r.wallMs)}]` : "";
  return `[${where}${counter(i, n)}] ${r.config} · ${r.contender}: ${paintStatus(what, r.status, paint)}${wall}`;
}

/**
 * The progress display. `interactive`: redraw one line in place every `refreshMs` (stderr is a terminal);
 * otherwise a plain line every `plainEveryMs` while a pair runs. `now`, `setTimer` and `clearTimer` are
 * injectable so tests can drive it without waiting.
 */
export function createProgress({
  stream = process.stderr,
  interactive = Boolean(stream.isTTY),
  paint = palette(false),
  refreshMs = 250,
  plainEveryMs = 20_000,
  now = () => performance.now(),
  setTimer = setInterval,
  clearTimer = clearInterval,
} = {}) {
  let running; // { where, i, n, config, contender, started, progress }
  let timer;
  let shown = 0; // columns of the line drawn in place, to clear it
  const width = () => Math.max(20, (stream.columns || 100) - 1);

  const clear = () => {
    if (shown > 0) stream.write(`\r${" ".repeat(shown)}\r`);
    shown = 0;
  };
  const line = () => runningLine({ ...running, elapsedMs: now() - running.started });
  const tick = () => {
    if (!running) return;
    if (interactive) {
      let text = line();
      if (text.length > width()) text = `${text.slice(0, width() - 1)}…`;
      stream.write(`\r${text}${" ".repeat(Math.max(0, shown - text.length))}`);
      shown = text.length;
    } else {
      stream.write(`${line()}\n`);
    }
  };
  const stopTimer = () => {
    if (timer !== undefined) clearTimer(timer);
    timer = undefined;
  };

  const display = {
    /** Prints a line of its own (above the line drawn in place, which is redrawn). */
    log(text) {
      clear();
      stream.write(`${text}\n`);
      if (running && interactive) tick();
    },
    start(where, i, n, config, contender) {
      stopTimer();
      running = { where, i, n, config: config.id ?? config, contender, started: now(), progress: {} };
      if (interactive) tick();
      timer = setTimer(tick, interactive ? refreshMs : plainEveryMs);
      timer?.unref?.();
    },
    /** What the running child reported: merged into what is shown (shown at the next refresh). */
    update(progress) {
      if (running) running.progress = { ...running.progress, ...progress };
    },
    result(where, i, n, result) {
      stopTimer();
      running = undefined;
      clear();
      stream.write(`${resultLine({ where, i, n, result, paint })}\n`);
    },
    stop() {
      stopTimer();
      running = undefined;
      clear();
    },
    tick,
    /** The callbacks runAll takes, with `where` ("" for Node, "browser " for the browser) in every line. */
    callbacks(where = "") {
      return {
        onStart: (i, n, config, contender) => display.start(where, i, n, config, contender),
        onProgress: (_i, _n, progress) => display.update(progress),
        onResult: (i, n, result) => display.result(where, i, n, result),
      };
    },
  };
  return display;
}
