import { RopekitError } from "@ropekit/core";
import type { KernelName, WorkerReply, WorkerRequest } from "./worker-protocol.js";

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";

/** The part of Node's and the browser's Worker that the pool uses. */
interface Port {
  post(message: WorkerRequest): void;
  /** Node only: let the process exit while the worker idles. */
  setIdle(idle: boolean): void;
  terminate(): void;
}

interface Slot {
  port: Port;
  alive: boolean;
  pending: Map<number, { resolve: () => void; reject: (e: Error) => void }>;
}

/**
 * Worker threads over one shared WebAssembly.Memory: each worker instantiates the kernels on it and
 * runs the kernel calls it is sent. Idle workers never keep a Node process alive; a worker that dies
 * rejects its pending calls with WORKER_FAILED (and is replaced on the next call) instead of hanging.
 */
export class WorkerPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private disposed = false;

  private constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
  ) {}

  /** Starts `size` workers and waits until each has instantiated the kernels. */
  static async create(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    size: number,
  ): Promise<WorkerPool> {
    const pool = new WorkerPool(module, memory);
    pool.slots = await Promise.all(Array.from({ length: size }, () => pool.spawn()));
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  private async spawn(): Promise<Slot> {
    const slot: Slot = { port: undefined as unknown as Port, alive: true, pending: new Map() };
    const fail = (reason: string) => {
      if (!slot.alive) return;
      slot.alive = false;
      const error = new RopekitError("WORKER_FAILED", `a backend-wasm worker failed: ${reason}`, "threads");
      for (const p of slot.pending.values()) p.reject(error);
      slot.pending.clear();
    };
    const onReply = (reply: WorkerReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) slot.port.setIdle(true);
      if (reply.error !== undefined)
        p.reject(
          new RopekitError("WORKER_FAILED", `a backend-wasm worker failed: ${reply.error}`, "threads"),
        );
      else p.resolve();
    };
    if (isNode) {
      const threads = "node:worker_threads";
      const { Worker } = (await import(/* @vite-ignore */ threads)) as typeof import("node:worker_threads");
      const worker = new Worker(new URL("./worker.js", import.meta.url));
      worker.on("message", onReply);
      worker.on("error", (e) => fail(e.message));
      worker.on("exit", (code) => fail(`exited with code ${code}`));
      slot.port = {
        post: (m) => worker.postMessage(m),
        setIdle: (idle) => (idle ? worker.unref() : worker.ref()),
        terminate: () => void worker.terminate(),
      };
    } else {
      // Written out literally so bundlers (Vite, webpack) see and bundle the worker module.
      const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
      worker.onmessage = (e: MessageEvent<WorkerReply>) => onReply(e.data);
      worker.onerror = (e) => fail(e.message);
      slot.port = {
        post: (m) => worker.postMessage(m),
        setIdle: () => {},
        terminate: () => worker.terminate(),
      };
    }
    // The first reply (id 0) confirms the kernels are instantiated.
    await new Promise<void>((resolve, reject) => {
      slot.pending.set(0, { resolve, reject });
      slot.port.setIdle(false);
      slot.port.post({ id: 0, init: { module: this.module, memory: this.memory } });
    });
    return slot;
  }

  /** Runs one kernel call per entry of `calls` on the workers (call i on worker i). */
  async run(kernel: KernelName, calls: readonly (readonly number[])[]): Promise<void> {
    if (this.disposed)
      throw new RopekitError("DISPOSED", "the backend-wasm worker pool was disposed", "threads");
    if (calls.length > this.slots.length) throw new Error("more calls than workers");
    // Replace workers that died since the last call.
    for (const [i, slot] of this.slots.entries()) if (!slot.alive) this.slots[i] = await this.spawn();
    await Promise.all(
      calls.map(
        (args, i) =>
          new Promise<void>((resolve, reject) => {
            const slot = this.slots[i] as Slot;
            const id = this.nextId++;
            slot.pending.set(id, { resolve, reject });
            slot.port.setIdle(false);
            slot.port.post({ id, kernel, args: [...args] });
          }),
      ),
    );
  }

  dispose(): void {
    this.disposed = true;
    for (const slot of this.slots) {
      slot.alive = false;
      slot.port.terminate();
    }
    this.slots = [];
  }
}
