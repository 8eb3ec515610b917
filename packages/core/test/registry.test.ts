import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type BackendRegistration,
  RopekitError,
  createReferenceBackend,
  listBackends,
  pickBackend,
  registerBackend,
  unregisterBackend,
} from "../src/index.js";

const names: string[] = [];
function fake(
  name: string,
  priority: number,
  supported: boolean | (() => never),
): BackendRegistration & { created: () => number } {
  let created = 0;
  names.push(name);
  return {
    name,
    priority,
    isSupported: typeof supported === "function" ? supported : () => supported,
    create: () => {
      created++;
      const b = createReferenceBackend();
      return { ...b, name, describe: () => ({ ...b.describe(), name, mode: `${name}-mode` }) };
    },
    created: () => created,
  };
}

afterEach(() => {
  for (const n of names.splice(0)) unregisterBackend(n);
});

describe("registry", () => {
  it("picks the highest-priority backend whose probe passes, and says why the others were skipped", async () => {
    registerBackend(fake("low", 1, true));
    registerBackend(fake("broken", 30, false));
    registerBackend(
      fake("throws", 20, () => {
        throw new Error("no GPU");
      }),
    );
    registerBackend(fake("mid", 10, true));
    const picked = await pickBackend({ env: {} });
    expect(picked.name).toBe("mid");
    expect(picked.mode).toBe("mid-mode");
    expect(picked.skipped.map((s) => s.name)).toEqual(["broken", "throws", "low"]);
    expect(picked.skipped[0]?.reason).toMatch(/probe/);
    expect(picked.skipped[1]?.reason).toMatch(/no GPU/);
    expect(picked.skipped[2]?.reason).toMatch(/lower priority/);
    expect(listBackends().map((b) => b.name)).toEqual(["broken", "throws", "mid", "low"]);
  });

  it("passes over a backend that declines automatic selection, but gives it when asked explicitly", async () => {
    const software = {
      ...fake("software-gpu", 30, true),
      declineAutoPick: () => "only a software rasteriser",
    };
    registerBackend(software);
    registerBackend(fake("cpu", 20, true));
    const auto = await pickBackend({ env: {} });
    expect(auto.name).toBe("cpu");
    expect(auto.skipped[0]?.name).toBe("software-gpu");
    expect(auto.skipped[0]?.reason).toMatch(/only a software rasteriser.*explicitly/);
    const explicit = await pickBackend({ backend: "software-gpu", env: {} });
    expect(explicit.name).toBe("software-gpu");
    expect(software.created()).toBe(1);
  });

  it("initialises each backend once", async () => {
    const reg = fake("once", 5, true);
    registerBackend(reg);
    await pickBackend({ env: {} });
    await pickBackend({ env: {} });
    await pickBackend({ backend: "once" });
    expect(reg.created()).toBe(1);
  });

  it("an explicit choice wins: argument, then ROPEKIT_BACKEND, then ?backend=", async () => {
    registerBackend(fake("a", 10, true));
    registerBackend(fake("b", 1, true));
    registerBackend(fake("c", 0, true));
    expect((await pickBackend({ backend: "b", env: { ROPEKIT_BACKEND: "c" } })).name).toBe("b");
    const fromEnv = await pickBackend({ env: { ROPEKIT_BACKEND: "c" }, url: "http://x/?backend=b" });
    expect(fromEnv.name).toBe("c");
    expect(fromEnv.reason).toContain("ROPEKIT_BACKEND");
    expect((await pickBackend({ env: {}, url: "http://localhost:5173/?backend=b" })).reason).toContain("URL");
  });

  it("reads process.env.ROPEKIT_BACKEND by default", async () => {
    registerBackend(fake("a", 10, true));
    registerBackend(fake("b", 1, true));
    vi.stubEnv("ROPEKIT_BACKEND", "b");
    try {
      expect((await pickBackend()).name).toBe("b");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("unknown or unavailable explicit choices raise, never fall back silently", async () => {
    registerBackend(fake("off", 10, false));
    await expect(pickBackend({ backend: "nope" })).rejects.toMatchObject({ code: "UNKNOWN_BACKEND" });
    await expect(pickBackend({ backend: "off" })).rejects.toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    await expect(pickBackend({ backend: "off" })).rejects.toBeInstanceOf(RopekitError);
  });

  it("with nothing usable it raises BACKEND_UNAVAILABLE listing the reasons", async () => {
    registerBackend(fake("off", 10, false));
    await expect(pickBackend({ env: {} })).rejects.toThrow(/off \(not supported/);
  });

  it("rejects bad registrations", () => {
    expect(() => registerBackend({ ...fake("x", Number.NaN, true) })).toThrow(RopekitError);
  });

  it("rejects an unknown option name with INVALID_OPTION, naming the known ones", async () => {
    const misspelt = { backnd: "reference" } as unknown as Parameters<typeof pickBackend>[0];
    const error = await pickBackend(misspelt).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RopekitError);
    expect(error).toMatchObject({ code: "INVALID_OPTION", argument: "options.backnd" });
    expect((error as Error).message).toMatch(/backend, env, url/);
  });
});
