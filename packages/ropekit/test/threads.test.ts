// Threads by default: "auto" gives the available parallelism where SharedArrayBuffer is usable, and
// getBackend() says how many threads run and why. Expected counts come from node:os, not from the code.
import { availableParallelism } from "node:os";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import {
  RopekitError,
  applyRope,
  applyRopeReference,
  configure,
  getBackend,
  maxRelativeError,
  ropeSpec,
} from "../src/index.js";
import { AUTO_THREADS_CAP, chooseThreads, runtimeThreads } from "../src/threads.js";

afterEach(() => vi.unstubAllGlobals());
afterAll(() => configure({ threads: "auto", backend: undefined }));

describe("chooseThreads", () => {
  it('"auto" takes the cores, at most the cap, and says so', () => {
    expect(chooseThreads("auto", { cores: 4, noSharedMemory: undefined })).toEqual({
      threads: 4,
      reason: "4 threads: auto, 4 cores",
    });
    expect(chooseThreads("auto", { cores: 64, noSharedMemory: undefined })).toEqual({
      threads: 8,
      reason: "8 threads: auto, 64 cores, at most 8",
    });
    expect(chooseThreads("auto", { cores: 1, noSharedMemory: undefined }).reason).toBe(
      "1 thread: auto, 1 core",
    );
  });

  it("one thread, with the reason, where SharedArrayBuffer cannot be used", () => {
    const why =
      "SharedArrayBuffer unusable (page not cross-origin isolated: serve it with COOP/COEP headers)";
    expect(chooseThreads("auto", { cores: 8, noSharedMemory: why })).toEqual({
      threads: 1,
      reason: `1 thread: ${why}`,
    });
    expect(chooseThreads(4, { cores: 8, noSharedMemory: why }).threads).toBe(1);
    expect(chooseThreads(3, { cores: 8, noSharedMemory: undefined })).toEqual({
      threads: 3,
      reason: "3 threads: configured",
    });
  });
});

describe("runtimeThreads", () => {
  it("in Node: os.availableParallelism() cores and shared memory", () => {
    expect(runtimeThreads()).toEqual({ cores: availableParallelism(), noSharedMemory: undefined });
  });

  it("on a page that is not cross-origin isolated: no shared memory, and why", () => {
    vi.stubGlobal("crossOriginIsolated", false);
    expect(runtimeThreads().noSharedMemory).toMatch(/not cross-origin isolated/);
    vi.stubGlobal("SharedArrayBuffer", undefined);
    expect(runtimeThreads().noSharedMemory).toMatch(
      /SharedArrayBuffer unavailable \(page not cross-origin isolated/,
    );
  });
});

describe("the top-level API's threads", () => {
  const spec = ropeSpec({ headDim: 64 });
  const x = Float32Array.from({ length: 2 * 32 * 4 * 64 }, (_, i) => Math.sin(i));
  const expected = applyRopeReference(
    { data: Float64Array.from(x), shape: [2, 32, 4, 64], layout: "bshd" },
    spec,
    {
      positions: 1000,
    },
  );
  const rotate = () =>
    applyRope({ data: x.slice(), shape: [2, 32, 4, 64], layout: "bshd" }, spec, { positions: 1000 });

  it('defaults to "auto": backend-wasm on the available parallelism, saying why', async () => {
    const auto = Math.min(availableParallelism(), AUTO_THREADS_CAP);
    const picked = await getBackend();
    expect(picked.name).toBe("wasm");
    expect(picked.threads).toBe(auto);
    expect(picked.threadsReason).toBe(
      `${auto} thread${auto === 1 ? "" : "s"}: auto, ${availableParallelism()} core${availableParallelism() === 1 ? "" : "s"}${auto < availableParallelism() ? `, at most ${AUTO_THREADS_CAP}` : ""}`,
    );
    if (auto > 1) expect(picked.mode).toMatch(new RegExp(`-threads${auto}$`));
    expect(maxRelativeError((await rotate()).data, expected.data)).toBeLessThan(1e-5);
  });

  it("configure({ threads }) changes the thread count of the next op", async () => {
    configure({ threads: 1 });
    const one = await getBackend();
    expect([one.threads, one.threadsReason]).toEqual([1, "1 thread: configured"]);
    expect(one.mode).not.toMatch(/threads/);
    expect(maxRelativeError((await rotate()).data, expected.data)).toBeLessThan(1e-5);

    configure({ threads: 2 });
    const two = await getBackend();
    expect([two.threads, two.threadsReason]).toEqual([2, "2 threads: configured"]);
    expect(two.mode).toMatch(/-threads2$/);
    expect(maxRelativeError((await rotate()).data, expected.data)).toBeLessThan(1e-5);
  });

  it("configure({ backend }) picks that backend, whose thread count is its own", async () => {
    configure({ backend: "js" });
    const js = await getBackend();
    expect(js.name).toBe("js");
    expect(js.threads).toBe(1);
    expect(js.threadsReason).toMatch(/^1 thread: backend js/);
    configure({ backend: undefined });
    expect((await getBackend()).name).toBe("wasm");
  });

  it("bad settings are INVALID_OPTION before anything changes", async () => {
    configure({ threads: 2 });
    for (const bad of [
      { thread: 2 },
      { threads: 0 },
      { threads: 1.5 },
      { threads: "many" },
      { backend: "" },
    ]) {
      expect(() => configure(bad as never)).toThrow(RopekitError);
      expect(() => configure(bad as never)).toThrow(expect.objectContaining({ code: "INVALID_OPTION" }));
    }
    expect((await getBackend()).threads).toBe(2);
  });
});
