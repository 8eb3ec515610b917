// The report of a run: JSON with the machine, a Markdown summary, and SVG charts (Observable Plot,
// rendered server-side on a linkedom document), all under one directory.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

/** CPU model, cores, memory, Node version, date: what a figure needs to be read. */
export function machineInfo() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
  };
}

const fmt = (x, digits = 3) =>
  x === undefined || !Number.isFinite(x) ? "" : Number(x.toPrecision(digits)).toString();
const ms = (x) => (x === undefined ? "" : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const mib = (bytes) => (bytes ? `${Math.round(bytes / 2 ** 20)}` : "");

/** One row per (configuration, contender), as the table and the Markdown show it. */
export function rows(results) {
  return results.map((r) => ({
    contender: r.contender,
    status:
      r.status === "ok"
        ? "ok"
        : `${r.status}${r.message ? `: ${r.message}` : r.error !== undefined ? ` (error ${fmt(Number(r.error), 2)})` : ""}`,
    ms: ms(r.ms),
    throughput:
      r.gflops !== undefined ? `${fmt(r.gflops)} GFLOP/s` : r.gbs !== undefined ? `${fmt(r.gbs)} GB/s` : "",
    vsCeiling: fmt(r.vsCeiling),
    vsBestPeer: fmt(r.vsBestPeer),
    vsJs: fmt(r.vsJs),
    rss: mib(r.peakRss),
  }));
}

export const COLUMNS = [
  "contender",
  "status",
  "median ms",
  "throughput",
  "× ceiling",
  "× best peer",
  "× js",
  "peak RSS MiB",
];

function markdown(report, configs) {
  const lines = [
    `# ropekit benchmarks — ${report.profile} profile`,
    "",
    `${report.machine.date.slice(0, 10)} on ${report.machine.cpu} (${report.machine.cores} cores, ${report.machine.memoryGiB} GiB), Node ${report.machine.node}. SIMD matmul peak (1 thread): ${fmt(report.matmulGflops)} GFLOP/s.`,
    "",
    "Medians of several runs per configuration, each configuration in its own process. × ceiling: the time the",
    "machine's limit would take for the same work divided by the measured time (1 = at the limit) — a copy of the",
    "same bytes into a new array for RoPE and sinusoidal (whose outputs are new arrays), into existing memory for",
    "decode, the SIMD matmul peak × threads for prefill attention, whose work is counted as 4·d flops per",
    "(query, visible key) pair: causal prefill counts S(S+1)/2 pairs per head, not S². × best peer and × js: the",
    "fastest peer's and backend-js's time divided by this row's (> 1 = faster). A wrong result gets no number.",
    "",
  ];
  for (const config of configs) {
    const results = report.results.filter((r) => r.config === config.id);
    if (results.length === 0) continue;
    lines.push(
      `## ${config.label}`,
      "",
      `| ${COLUMNS.join(" | ")} |`,
      `|${COLUMNS.map(() => "---").join("|")}|`,
    );
    for (const row of rows(results)) lines.push(`| ${Object.values(row).join(" | ")} |`);
    lines.push("");
  }
  return lines.join("\n");
}

/** Time and throughput of attention prefill against sequence length, log-log, one line per contender. */
function charts(report, configs) {
  const prefill = new Map(configs.filter((c) => c.series === "attention/prefill").map((c) => [c.id, c.qLen]));
  const points = report.results
    .filter((r) => r.status === "ok" && prefill.has(r.config))
    .map((r) => ({ contender: r.contender, S: prefill.get(r.config), ms: r.ms, gflops: r.gflops }));
  if (points.length === 0) return {};
  const { document } = parseHTML("<!doctype html><html><body></body></html>");
  const chart = (y, label) => {
    const svg = Plot.plot({
      document,
      width: 720,
      height: 420,
      marginRight: 130,
      style: { fontFamily: "sans-serif", fontSize: "12px", background: "white" },
      x: { type: "log", base: 2, label: "sequence length S", grid: true },
      y: { type: "log", label, grid: true },
      color: { legend: false },
      marks: [
        Plot.line(points, { x: "S", y, stroke: "contender", sort: "S", marker: "circle" }),
        Plot.text(
          points,
          Plot.selectLast({
            x: "S",
            y,
            z: "contender",
            text: "contender",
            fill: "contender",
            dx: 6,
            textAnchor: "start",
          }),
        ),
      ],
      caption: `causal attention prefill, 8 heads × 64, ${report.machine.cpu}, ${report.machine.date.slice(0, 10)}`,
    });
    const node = svg.tagName === "svg" ? svg : svg.querySelector("svg");
    node.setAttribute("xmlns", "http://www.w3.org/2000/svg");
    return svg.tagName === "svg" ? svg.outerHTML : `${node.outerHTML}`;
  };
  return {
    "attention-time.svg": chart("ms", "time per call (ms)"),
    "attention-throughput.svg": chart("gflops", "GFLOP/s (causal work counted)"),
  };
}

/** Writes report.json, report.md and the charts under `dir`, named by profile; returns the paths. */
export function writeReport(report, configs, dir) {
  mkdirSync(dir, { recursive: true });
  const stem = `bench-${report.profile}`;
  const files = {
    [`${stem}.json`]: `${JSON.stringify(report, null, 2)}\n`,
    [`${stem}.md`]: `${markdown(report, configs)}\n`,
  };
  for (const [name, svg] of Object.entries(charts(report, configs))) files[`${stem}-${name}`] = `${svg}\n`;
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return Object.keys(files).map((name) => join(dir, name));
}
