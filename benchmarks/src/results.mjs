// Every bench script records the machine it ran on next to its figures, in benchmarks/results/.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";

/** The CPU, core count, Node version and time of this run. */
export function machineInfo() {
  return {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** Writes `data` as benchmarks/results/<file> (pretty JSON); returns the path. */
export function saveResult(file, data) {
  const dir = fileURLToPath(new URL("../results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}${file}`, `${JSON.stringify(data, null, 2)}\n`);
  return `${dir}${file}`;
}
