// createJsBackend's options are checked like every op's: a misspelt name is an error, not a default.
import { RopekitError } from "@ropekit/core";
import { describe, expect, it } from "vitest";
import { type JsBackendOptions, createJsBackend } from "../src/index.js";

describe("createJsBackend options", () => {
  it("rejects an unknown option name with INVALID_OPTION", () => {
    const misspelt = { tableCachesize: 4 } as unknown as JsBackendOptions;
    expect(() => createJsBackend(misspelt)).toThrow(RopekitError);
    expect(() => createJsBackend(misspelt)).toThrow(/unknown option "tableCachesize".*tableCacheSize/);
  });

  it("accepts the known option", () => {
    expect(createJsBackend({ tableCacheSize: 4 }).name).toBe("js");
  });
});
