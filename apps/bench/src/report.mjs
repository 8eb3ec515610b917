// The report of a run: JSON with the machine, a Markdown summary, and SVG charts (Observable Plot,
// rendered server-side on a linkedom document, with a title, the shape and a legend), all under one
// directory.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { formatNote } from "./unavailable.mjs";

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
  if (report.unavailable?.length) {
    lines.push("## Not run on this machine", "");
    for (const note of report.unavailable) lines.push(`- ${formatNote(note)}`);
    lines.push("");
  }
  return lines.join("\n");
}

/** Approximate width in pixels of `text` in a sans-serif font of `fontSize` px (about 0.6 em a character). */
export const textWidth = (text, fontSize = 12) => Math.ceil(String(text).length * fontSize * 0.62);

/**
 * Ticks of a log axis covering [min, max] and the domain they span: 1-2-3-5 steps within a decade or two,
 * 1-2-5 within three, powers of ten beyond; the domain is widened to the ticks around the data, so the
 * axis always has labelled ends.
 */
export function logTicks(min, max) {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const mantissas = hi - lo <= 2 ? [1, 2, 3, 5] : hi - lo <= 3 ? [1, 2, 5] : [1];
  const grid = [];
  for (let e = lo - 1; e <= hi + 1; e++) for (const m of mantissas) grid.push(Number(`${m}e${e}`));
  let from = grid.findLast((t) => t <= min);
  let to = grid.find((t) => t >= max);
  // One value on a tick: widen to the ticks either side.
  if (from === to) [from, to] = [grid.findLast((t) => t < min), grid.find((t) => t > max)];
  return { domain: [from, to], ticks: grid.filter((t) => t >= from && t <= to) };
}

/** A tick label: at most 3 significant digits, thousands grouped ("0.25", "1,500"). */
export const tickLabel = (v) => v.toLocaleString("en-US", { maximumSignificantDigits: 3 });

const escapeXml = (text) =>
  String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/** The tensor shapes of an attention configuration with S for the sequence length: "q, k, v [1, S, 8, 64]". */
export function attentionShape(config) {
  const dims = (heads) =>
    config.layout === "bhsd"
      ? `[${config.batch}, ${heads}, S, ${config.headDim}]`
      : `[${config.batch}, S, ${heads}, ${config.headDim}]`;
  const shapes =
    config.kvHeads === config.qHeads
      ? `q, k, v ${dims(config.qHeads)}`
      : `q ${dims(config.qHeads)}, k, v ${dims(config.kvHeads)}`;
  return `${shapes} ${config.layout}, f32${config.causal ? ", causal" : ""}`;
}

/** Observable's ten categorical colours; contenders past the tenth get them again, dashed. */
const COLOURS = [
  "#4269d0",
  "#efb118",
  "#ff725c",
  "#6cc5b0",
  "#3ca951",
  "#ff8ab7",
  "#a463f2",
  "#97bbf5",
  "#9c6b4e",
  "#9498a0",
];
const DASH = "6,3";

/**
 * Vertical positions for labels wanted at `ys` (pixels), at least `gap` apart and within [min, max], each as
 * close to where it is wanted as that allows; returned in the order given.
 */
export function dodge(ys, gap, min, max) {
  const order = ys.map((y, i) => ({ y, i })).sort((a, b) => a.y - b.y);
  const placed = [];
  for (const { y } of order) placed.push(Math.max(y, min, placed.length ? placed.at(-1) + gap : min));
  // Pushed past the bottom: shift the run at the bottom back up.
  for (let k = placed.length - 1, limit = max; k >= 0 && placed[k] > limit; k--, limit -= gap)
    placed[k] = limit;
  const out = new Array(ys.length);
  for (const [k, { i }] of order.entries()) out[i] = placed[k];
  return out;
}

/**
 * One chart as a standalone SVG: a title, a subtitle (shape, scales, which way is better), a legend, the
 * plot with each line named at its end, and a caption (machine, date). Margins are sized from the longest
 * tick label and contender name, so nothing is clipped.
 */
function chartSvg({ document, points, y, yLabel, title, subtitle, caption }) {
  const width = 760;
  const plotHeight = 420;
  const font = 12;
  const contenders = [...new Set(points.map((p) => p.contender))].sort();
  const colour = (c) => COLOURS[contenders.indexOf(c) % COLOURS.length];
  const dashed = (c) => contenders.indexOf(c) >= COLOURS.length;
  const values = points.map((p) => p[y]).filter((v) => v > 0 && Number.isFinite(v));
  const yAxis = logTicks(Math.min(...values), Math.max(...values));
  const xTicks = [...new Set(points.map((p) => p.S))].sort((a, b) => a - b);
  const xDomain = xTicks.length > 1 ? [xTicks[0], xTicks.at(-1)] : [xTicks[0] / 2, xTicks[0] * 2];
  const marginLeft = Math.max(...yAxis.ticks.map((t) => textWidth(tickLabel(t), font))) + 16;
  const marginRight = Math.max(...contenders.map((c) => textWidth(c, font))) + 20;
  const line = (data, strokeDasharray) =>
    Plot.line(data, {
      x: "S",
      y,
      z: "contender",
      stroke: "contender",
      sort: "S",
      marker: "circle",
      strokeDasharray,
    });
  const plot = Plot.plot({
    document,
    width,
    height: plotHeight,
    marginLeft,
    marginRight,
    marginTop: 28,
    marginBottom: 42,
    style: { fontFamily: "sans-serif", fontSize: `${font}px`, background: "white", overflow: "visible" },
    x: { type: "log", base: 2, domain: xDomain },
    y: { type: "log", domain: yAxis.domain },
    color: { domain: contenders, range: contenders.map(colour) },
    // Axes as marks with their own text: a log scale's automatic labels leave some ticks blank.
    marks: [
      Plot.gridX(xTicks),
      Plot.gridY(yAxis.ticks),
      Plot.axisX(xTicks, { text: (v) => String(v), label: "sequence length S →", labelAnchor: "right" }),
      Plot.axisY(yAxis.ticks, { text: tickLabel, label: `↑ ${yLabel}` }),
      line(
        points.filter((p) => !dashed(p.contender)),
        undefined,
      ),
      line(
        points.filter((p) => dashed(p.contender)),
        DASH,
      ),
    ],
  });
  // The legend: a swatch of each line and its name, wrapped to the width.
  const legend = [];
  let lx = 16;
  let ly = 66;
  for (const name of contenders) {
    const w = 28 + textWidth(name, font) + 18;
    if (lx + w > width - 16) {
      lx = 16;
      ly += 18;
    }
    legend.push(
      `<line x1="${lx}" x2="${lx + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${colour(name)}" stroke-width="2.5"${dashed(name) ? ` stroke-dasharray="${DASH}"` : ""}/>`,
      `<circle cx="${lx + 10}" cy="${ly - 4}" r="3" fill="${colour(name)}"/>`,
      `<text x="${lx + 26}" y="${ly}" font-size="${font}">${escapeXml(name)}</text>`,
    );
    lx += w;
  }
  const top = ly + 14;
  const height = top + plotHeight + 30;
  // Each line named at its last point, the names moved apart where lines end close together.
  const [sx, sy] = [plot.scale("x"), plot.scale("y")];
  const ends = contenders.map((c) => {
    const last = points
      .filter((p) => p.contender === c)
      .sort((a, b) => a.S - b.S)
      .at(-1);
    return { c, x: sx.apply(last.S), y: sy.apply(last[y]) };
  });
  const labelYs = dodge(
    ends.map((e) => e.y),
    font + 1,
    8,
    plotHeight - 42,
  );
  const labels = ends.map(
    (e, i) =>
      `<text x="${(e.x + 8).toFixed(1)}" y="${(top + labelYs[i] + font / 3).toFixed(1)}" font-size="${font}" fill="${colour(e.c)}">${escapeXml(e.c)}</text>`,
  );
  plot.setAttribute("x", "0");
  plot.setAttribute("y", String(top));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="16" y="24" font-size="17" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="16" y="46" font-size="13" fill="#333">${escapeXml(subtitle)}</text>`,
    ...legend,
    plot.outerHTML,
    ...labels,
    `<text x="16" y="${height - 10}" font-size="11" fill="#666">${escapeXml(caption)}</text>`,
    "</svg>",
  ].join("\n");
}

/** Time and throughput of attention prefill against sequence length, log-log, one line per contender. */
export function charts(report, configs) {
  const series = configs.filter((c) => c.series === "attention/prefill");
  const prefill = new Map(series.map((c) => [c.id, c.qLen]));
  const points = report.results
    .filter((r) => r.status === "ok" && prefill.has(r.config))
    .map((r) => ({ contender: r.contender, S: prefill.get(r.config), ms: r.ms, gflops: r.gflops }));
  if (points.length === 0) return {};
  const { document } = parseHTML("<!doctype html><html><body></body></html>");
  const m = report.machine;
  const shape = attentionShape(series[0]);
  const caption = `${report.profile} profile · ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB) · Node ${m.node} · ${m.date.slice(0, 10)} · log-log`;
  const chart = (pts, y, yLabel, title, better) =>
    chartSvg({ document, points: pts, y, yLabel, title, subtitle: `${shape} — ${better}`, caption });
  const out = {
    "attention-time.svg": chart(
      points,
      "ms",
      "time per call (ms)",
      "Causal attention prefill: time per call against sequence length",
      "lower is better",
    ),
  };
  const withFlops = points.filter((p) => p.gflops > 0);
  if (withFlops.length > 0)
    out["attention-throughput.svg"] = chart(
      withFlops,
      "gflops",
      "GFLOP/s (causal work: 4·d flops per visible (query, key) pair)",
      "Causal attention prefill: throughput against sequence length",
      "higher is better",
    );
  return out;
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
