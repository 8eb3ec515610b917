import type { RopeTable } from "@ropekit/core";
import type { Heap } from "./heap.js";
import type { CallScope } from "./scope.js";

interface Upload {
  readonly cos: number;
  readonly sin: number;
  /** Calls in flight that read it: it is never freed while one is. */
  users: number;
}

/**
 * cos/sin tables copied into wasm memory, shared by the calls that rotate with them. Up to `keep` idle
 * ones stay for reuse (least recently used freed first); a table in use by an unfinished call — its
 * kernels may still be queued on a worker — is only freed after that call ends.
 */
export class UploadedTables {
  private readonly uploads = new Map<RopeTable, Upload>(); // least recently used first

  constructor(
    private readonly heap: Heap,
    private readonly keep = 8,
  ) {}

  /** The table's addresses, held for the call until `scope` releases. */
  acquire(table: RopeTable, scope: CallScope): { cos: number; sin: number } {
    let upload = this.uploads.get(table);
    if (upload) this.uploads.delete(table);
    else upload = this.upload(table);
    this.uploads.set(table, upload);
    const held = upload;
    held.users++;
    scope.defer(() => {
      held.users--;
      this.trim();
    });
    this.trim();
    return held;
  }

  /** Frees every table (the backend is disposed). */
  clear(): void {
    for (const upload of this.uploads.values()) this.free(upload);
    this.uploads.clear();
  }

  private upload(table: RopeTable): Upload {
    const cos = this.heap.alloc(table.cos.length * 4);
    let sin: number;
    try {
      sin = this.heap.alloc(table.sin.length * 4);
    } catch (error) {
      this.heap.release(cos);
      throw error;
    }
    const f32 = this.heap.view().f32;
    f32.set(table.cos, cos >>> 2);
    f32.set(table.sin, sin >>> 2);
    return { cos, sin, users: 0 };
  }

  /** Frees the least recently used idle tables past `keep`. */
  private trim(): void {
    for (const [table, upload] of this.uploads) {
      if (this.uploads.size <= this.keep) return;
      if (upload.users > 0) continue;
      this.uploads.delete(table);
      this.free(upload);
    }
  }

  private free(upload: Upload): void {
    this.heap.release(upload.cos);
    this.heap.release(upload.sin);
  }
}
