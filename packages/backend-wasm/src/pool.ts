import { RopekitError } from "@ropekit/core";
import { platform } from "#platform";
import type { WorkerPort } from "./platform/types.js";
import type { KernelName, WorkerReply } from "./worker-protocol.js";

interface Slot {
  port: WorkerPort;
  alive: boolean;
  pending: Map<number, { resolve: () => void; reject: (e: Error) => void }>;
  /** Marks the worker dead and rejects its pending calls with `error`. */
  fail(error: Error): void;
  /** The worker that replaces this dead one, once asked for. */
  replacement?: Promise<Slot>;
  /** Test hook: terminate right after the next kernel call is posted. */
  killOnNextCall?: boolean;
}

function workerFailed(reason: string): RopekitError {
  return new RopekitError("WORKER_FAILED", `a backend-wasm worker failed: ${reason}`, "threads");
}

/**
 * Worker threads over one shared WebAssembly.Memory: each worker instantiates the kernels on it and
 * runs the kernel calls it is sent. Idle workers never keep a Node process alive. A worker that dies
 * rejects its pending calls with WORKER_FAILED (instead of hanging) and is replaced on its next call;
 * one that cannot be replaced is dropped, so the backend goes on with fewer threads and `note` says why.
 */
export class WorkerPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private disposed = false;
  private restarts = 0;
  private dropped: string | undefined;

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
    const started = await Promise.allSettled(Array.from({ length: size }, () => pool.spawn()));
    pool.slots = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      pool.dispose();
      throw failed.reason;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** What happened to the workers, if anything did (restarts, workers dropped). */
  get note(): string | undefined {
    const notes = [
      this.restarts > 0 ? `${this.restarts} worker restart(s) after failures` : undefined,
      this.dropped,
    ];
    return notes.filter(Boolean).join("; ") || undefined;
  }

  /**
   * Runs one kernel call per entry of `calls` (call i on worker i). Settles only once every call has
   * ended: a failed call's memory is freed when it rejects, and a part still running on another worker
   * would write into it.
   */
  run(kernel: KernelName, calls: readonly (readonly number[])[]): Promise<void> {
    if (this.disposed)
      return Promise.reject(
        new RopekitError("DISPOSED", "the backend-wasm worker pool was disposed", "threads"),
      );
    if (calls.length > this.slots.length) return Promise.reject(new Error("more calls than workers"));
    const posted = calls.map((args, i) => {
      const slot = this.slots[i] as Slot;
      // A worker that died since the last call is replaced before its part is posted.
      return slot.alive
        ? this.send(slot, kernel, args)
        : this.replace(slot).then((s) => this.send(s, kernel, args));
    });
    return Promise.allSettled(posted).then((results) => {
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    });
  }

  /**
   * @internal Test hook: makes worker `index` die like a crash. With `onNextCall`, it is terminated right
   * after its next kernel call is posted, so that call fails mid-flight.
   */
  killWorker(index: number, onNextCall = false): void {
    const slot = this.slots[index];
    if (!slot) throw new RangeError(`no worker ${index}`);
    if (onNextCall) slot.killOnNextCall = true;
    else this.kill(slot);
  }

  dispose(): void {
    this.disposed = true;
    const error = new RopekitError("DISPOSED", "the backend-wasm worker pool was disposed", "threads");
    for (const slot of this.slots) {
      slot.fail(error);
      slot.port.terminate();
    }
    this.slots = [];
  }

  private kill(slot: Slot): void {
    slot.port.terminate();
    // A browser worker reports nothing when terminated: fail its calls here.
    slot.fail(workerFailed("terminated"));
  }

  private send(slot: Slot, kernel: KernelName, args: readonly number[]): Promise<void> {
    if (!slot.alive) return Promise.reject(workerFailed("the worker is not running"));
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      slot.pending.set(id, { resolve, reject });
      slot.port.setIdle(false);
      slot.port.post({ id, kernel, args: [...args] });
      if (slot.killOnNextCall) {
        slot.killOnNextCall = false;
        this.kill(slot);
      }
    });
  }

  /** The live worker in a dead slot's place (one per dead slot, however many calls ask). */
  private replace(dead: Slot): Promise<Slot> {
    dead.replacement ??= this.spawn().then(
      (fresh) => {
        const i = this.slots.indexOf(dead);
        if (this.disposed || i < 0) {
          fresh.port.terminate();
          throw workerFailed("the pool was disposed or resized");
        }
        this.slots[i] = fresh;
        this.restarts++;
        return fresh;
      },
      (error: unknown) => {
        // It cannot be restarted: drop it, so later calls split over the threads that remain.
        const i = this.slots.indexOf(dead);
        if (i >= 0) this.slots.splice(i, 1);
        this.dropped = `running on ${1 + this.slots.length} thread(s): a worker could not be restarted (${String(error)})`;
        throw error instanceof RopekitError ? error : workerFailed(String(error));
      },
    );
    return dead.replacement;
  }

  private async spawn(): Promise<Slot> {
    const slot: Slot = {
      port: undefined as unknown as WorkerPort,
      alive: true,
      pending: new Map(),
      fail: (error) => {
        if (!slot.alive) return;
        slot.alive = false;
        for (const p of slot.pending.values()) p.reject(error);
        slot.pending.clear();
      },
    };
    const fail = (reason: string) => slot.fail(workerFailed(reason));
    const onReply = (reply: WorkerReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) slot.port.setIdle(true);
      if (reply.error !== undefined) p.reject(workerFailed(reply.error));
      else p.resolve();
    };
    slot.port = platform.spawnWorker({ reply: onReply, failed: fail });
    // The first reply (id 0) confirms the kernels are instantiated.
    try {
      await new Promise<void>((resolve, reject) => {
        slot.pending.set(0, { resolve, reject });
        slot.port.setIdle(false);
        slot.port.post({ id: 0, init: { module: this.module, memory: this.memory } });
      });
    } catch (error) {
      slot.port.terminate();
      throw error;
    }
    return slot;
  }
}
