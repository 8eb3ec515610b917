import { RopekitError, describeValue } from "./errors.js";

/**
 * Checks that `options` is a plain object (or undefined) whose own keys are all known: a misspelled
 * option (`{ inplace: true }`) is an error, not a silently ignored default. `null` values are rejected
 * too — an option is either given or absent.
 */
export function checkOptions(options: unknown, known: readonly string[], argument = "options"): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new RopekitError(
      "INVALID_OPTION",
      `${argument} must be an object, got ${describeValue(options)}`,
      argument,
    );
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new RopekitError(
        "INVALID_OPTION",
        `unknown option ${JSON.stringify(key)} in ${argument}; known options: ${known.join(", ")}`,
        `${argument}.${key}`,
      );
    }
    if ((options as Record<string, unknown>)[key] === null) {
      throw new RopekitError(
        "INVALID_OPTION",
        `${argument}.${key} is null; leave it out for the default`,
        `${argument}.${key}`,
      );
    }
  }
}

/** A boolean option: false when absent, INVALID_OPTION when it is not a boolean. */
export function booleanOption(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    throw new RopekitError("INVALID_OPTION", `${name} must be a boolean, got ${describeValue(value)}`, name);
  }
  return value;
}
