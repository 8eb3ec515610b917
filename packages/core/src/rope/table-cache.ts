import type { RopeSpec, RopeTable } from "../types.js";
import { frequencyKey } from "./frequencies.js";
import type { ApplyRopePlan } from "./apply.js";
import { mropeTable, ropeTable, tableRows } from "./table.js";

/** Every field a RopeSpec defines; anything else a caller hung on the object is not part of its identity. */
const SPEC_FIELDS = [
  "headDim",
  "rotaryDim",
  "base",
  "pairing",
  "scaling",
  "mropeSection",
  "type",
  "factor",
  "maxPositionEmbeddings",
  "originalMaxPositionEmbeddings",
  "betaFast",
  "betaSlow",
  "mscale",
  "mscaleAllDim",
  "attentionFactor",
  "truncate",
  "lowFreqFactor",
  "highFreqFactor",
  "shortFactor",
  "longFactor",
];

/**
 * A string that is equal for specs that give equal frequencies: built from the fields a spec defines
 * only, so an extra field (cyclic, a BigInt) can neither crash it nor split the cache.
 */
export function ropeSpecKey(spec: RopeSpec): string {
  return JSON.stringify(spec, SPEC_FIELDS);
}

/** Explicit ids are served from a contiguous table when they span at most this many extra rows. */
const MAX_RANGE_SLACK = 4096;

/**
 * Small LRU of RoPE tables, so repeated calls with the same spec and positions (every layer of a forward
 * pass, q and k) reuse one table instead of recomputing trig.
 */
export class RopeTableCache {
  private readonly tables = new Map<string, RopeTable>();
  private readonly specKeys = new WeakMap<RopeSpec, string>();

  constructor(private readonly capacity = 32) {}

  private specKey(spec: RopeSpec): string {
    let key = this.specKeys.get(spec);
    if (key === undefined) {
      key = ropeSpecKey(spec);
      this.specKeys.set(spec, key);
    }
    return key;
  }

  /** A table that covers positions [min, max] of a call with sequence length `seqLen`. */
  forRange(spec: RopeSpec, min: number, max: number, seqLen: number): RopeTable {
    const key = `${this.specKey(spec)}|${frequencyKey(spec, seqLen)}|${min}:${max}`;
    const hit = this.tables.get(key);
    if (hit) {
      // refresh LRU order
      this.tables.delete(key);
      this.tables.set(key, hit);
      return hit;
    }
    const table = ropeTable(spec, { start: min, length: max - min + 1 }, { seqLen });
    this.tables.set(key, table);
    if (this.tables.size > this.capacity) this.tables.delete(this.tables.keys().next().value as string);
    return table;
  }

  /** A table for explicit ids: contiguous when they are dense enough, else one row per id (not cached). */
  forIds(spec: RopeSpec, ids: Int32Array, min: number, max: number, seqLen: number): RopeTable {
    if (max - min + 1 <= ids.length + MAX_RANGE_SLACK) return this.forRange(spec, min, max, seqLen);
    return ropeTable(spec, ids, { seqLen });
  }

  /** The table for a plan (the one passed in, or a cached one covering the call) and each token's row. */
  forPlan(plan: ApplyRopePlan): { table: RopeTable; rows: Int32Array } {
    if (plan.table) return { table: plan.table, rows: plan.rows as Int32Array };
    const { spec, positions, dims, seqLen } = plan;
    if (positions.axes) {
      // Multimodal positions: a row per token, not cached (the ids of a prompt rarely repeat).
      const table = mropeTable(spec, positions, dims.batch, dims.seq, seqLen);
      return { table, rows: Int32Array.from({ length: table.length }, (_, t) => t) };
    }
    const table =
      positions.ids === undefined
        ? this.forRange(spec, positions.min, positions.max, seqLen)
        : this.forIds(spec, positions.ids, positions.min, positions.max, seqLen);
    return { table, rows: tableRows(table, positions, dims.batch, dims.seq) };
  }

  /** Forgets every cached table. */
  clear(): void {
    this.tables.clear();
  }
}
