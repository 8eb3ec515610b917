// What the terminal gets: colour only where a person reads it. Pure functions, tested on their own.

/**
 * Should output to a stream be coloured? In order: the command line (`--color` / `--no-color`), then
 * FORCE_COLOR (set: colour, unless it is "0" or "false"; like Node, it wins over NO_COLOR), then NO_COLOR
 * (set and not empty: no colour, https://no-color.org), then whether the stream is a terminal that is not
 * TERM=dumb.
 */
export function shouldColor({ isTTY, env = {}, flag } = {}) {
  if (flag === true || flag === false) return flag;
  if (env.FORCE_COLOR !== undefined) return !["0", "false"].includes(env.FORCE_COLOR.toLowerCase());
  if (env.NO_COLOR) return false;
  return Boolean(isTTY) && env.TERM !== "dumb";
}

const SGR = { red: [31, 39], green: [32, 39], yellow: [33, 39], grey: [90, 39], bold: [1, 22] };

/** Colour functions (red, green, yellow, grey, bold) that are the identity when `enabled` is false. */
export function palette(enabled) {
  const p = {};
  for (const [name, [open, close]] of Object.entries(SGR))
    p[name] = enabled ? (text) => `\x1b[${open}m${text}\x1b[${close}m` : (text) => String(text);
  return p;
}

/** A result status in its colour: ok green, a wrong result or a failure red, a skipped pair yellow. */
export function paintStatus(text, status, paint) {
  if (status === "ok") return paint.green(text);
  if (status === "skipped" || status === "unavailable") return paint.yellow(text);
  return paint.red(text);
}

/** The cli-table3 style: grey borders in colour, none of cli-table3's escape codes without. */
export const tableStyle = (enabled) => (enabled ? { head: [], border: ["grey"] } : { head: [], border: [] });
