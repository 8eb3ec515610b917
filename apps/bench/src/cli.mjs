#!/usr/bin/env node
// ropekit-bench: every backend and peer over the shape grid, each configuration in its own process,
// checked against the reference before it is timed; a table in the terminal and a report (JSON,
// Markdown, SVG charts) in benchmarks/results/.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BACKENDS, BROWSER_BACKENDS, CONFIGS, PEERS, isPeer, supports } from "@ropekit/benchmarks/grid";
import { threadsOf } from "@ropekit/benchmarks/measure";
import Table from "cli-table3";
import { Command, Option } from "commander";
import { withRatios } from "./ratios.mjs";
import { createProgress } from "./progress.mjs";
import { COLUMNS, machineInfo, rows, writeReport } from "./report.mjs";
import { runAll } from "./runner.mjs";
import { paintStatus, palette, shouldColor, tableStyle } from "./terminal.mjs";
import { formatNote, unavailableNotes } from "./unavailable.mjs";

const QUICK_PEERS = ["tutorial-js", "ort-node-1", "ort-web-1"];
const resultsDir = join(
  dirname(fileURLToPath(import.meta.resolve("@ropekit/benchmarks/package.json"))),
  "results",
);

const program = new Command("ropekit-bench")
  .description(
    "Benchmarks ropekit's backends against the machine's limits and the libraries users would pick instead.",
  )
  .option(
    "--full",
    "the full profile: every shape, every peer (tens of minutes); default is the quick profile",
  )
  .option("--op <ops...>", "only these ops: rope, sinusoidal, attention, rmsNorm, linear")
  .option(
    "--backend <names...>",
    `only these contenders: ${[...BACKENDS, ...PEERS].join(", ")} (with --browser also ${BROWSER_BACKENDS.join(", ")})`,
  )
  .option("--shape <text>", "only configurations whose id contains this text, e.g. prefill-4096 or decode")
  .option("--no-peers", "ropekit's backends only")
  .option("--browser", `also run ${BROWSER_BACKENDS.join(", ")} in headless Chromium`)
  .option("--json", "print the report as JSON on stdout (progress stays on stderr)")
  .option("--out <dir>", "where the report goes", resultsDir)
  .addOption(new Option("--timeout <seconds>", "limit per configuration").argParser(Number))
  .option("--color", "colour the output even when it is not a terminal (also FORCE_COLOR=1)")
  .option("--no-color", "no colours (also NO_COLOR=1); by default only a terminal gets colours")
  .addOption(new Option("--list", "list the configurations and contenders, run nothing"))
  .showHelpAfterError();
program.parse();
const opts = program.opts();
const quick = !opts.full;
const profile = quick ? "quick" : "full";

const configs = CONFIGS.filter(
  (c) =>
    (!quick || c.quick) && (!opts.op || opts.op.includes(c.op)) && (!opts.shape || c.id.includes(opts.shape)),
);
let contenders = [...BACKENDS, ...(opts.peers ? (quick ? QUICK_PEERS : PEERS) : [])];
let browserContenders = BROWSER_BACKENDS;
if (opts.backend) {
  const unknown = opts.backend.filter((b) => ![...BACKENDS, ...PEERS, ...BROWSER_BACKENDS].includes(b));
  if (unknown.length) program.error(`unknown contender(s): ${unknown.join(", ")}`);
  contenders = contenders.filter((c) => opts.backend.includes(c));
  // Naming browser contenders picks among them; naming none keeps them all (with --browser).
  const named = BROWSER_BACKENDS.filter((b) => opts.backend.includes(b));
  if (named.length) browserContenders = named;
}
const allPairs = configs.flatMap((config) => contenders.map((contender) => ({ config, contender })));
const pairs = allPairs.filter(({ config, contender }) => supports(contender, config));
if (opts.list) {
  for (const c of configs) console.log(`${c.id.padEnd(28)} ${c.label}`);
  console.log(`contenders: ${contenders.join(", ")}`);
  process.exit(0);
}
if (pairs.length === 0 && !(opts.browser && configs.length))
  program.error("nothing to run: the filters left no configuration or contender");

// Colours on stdout (the tables) and stderr (progress) only where a terminal shows them.
const colorFor = (stream) => shouldColor({ isTTY: stream.isTTY, env: process.env, flag: opts.color });
const paintOut = palette(colorFor(process.stdout));
const display = createProgress({ stream: process.stderr, paint: palette(colorFor(process.stderr)) });
const log = (line) => display.log(line);
log(`ropekit-bench: ${profile} profile, ${configs.length} configurations × ${contenders.length} contenders`);
const matmulGflops = JSON.parse(
  execFileSync(process.execPath, [fileURLToPath(import.meta.resolve("@ropekit/benchmarks/matmul"))], {
    encoding: "utf8",
  }),
).gflops;
log(`ceiling: SIMD matmul ${matmulGflops.toFixed(1)} GFLOP/s on one thread`);

let results = await runAll(pairs, {
  quick,
  timeoutMs: (opts.timeout ?? (quick ? 60 : 240)) * 1000,
  ...display.callbacks(""),
});
if (opts.browser) {
  const { runInBrowser } = await import("./browser.mjs");
  results = results.concat(
    await runInBrowser(configs, {
      quick,
      log,
      contenders: browserContenders,
      ...display.callbacks("browser "),
    }),
  );
}
display.stop();
results = results.map((r) => ({ ...r, threads: threadsOf(r.contender) }));

const unsupported = allPairs.length - pairs.length + results.filter((r) => r.status === "unsupported").length;
// A contender that cannot run here is one note, not a failed row in every table.
const unavailable = unavailableNotes(results);
results = withRatios(
  results.filter((r) => r.status !== "unsupported" && r.status !== "unavailable"),
  { matmulGflops, isPeer },
);
const report = {
  profile,
  browser: Boolean(opts.browser),
  machine: machineInfo(),
  matmulGflops,
  unsupported,
  unavailable,
  results,
};
const files = writeReport(report, configs, opts.out);

if (opts.json) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  for (const note of unavailable) log(`note: ${formatNote(note)}`);
} else {
  for (const config of configs) {
    const mine = results.filter((r) => r.config === config.id);
    if (mine.length === 0) continue;
    const table = new Table({ head: COLUMNS, style: tableStyle(colorFor(process.stdout)) });
    for (const [i, row] of rows(mine).entries()) {
      const cells = Object.values(row).map((v) => (v.length > 60 ? `${v.slice(0, 57)}…` : v));
      cells[1] = paintStatus(cells[1], mine[i].status, paintOut);
      table.push(cells);
    }
    console.log(`\n${paintOut.bold(config.label)}\n${table.toString()}`);
  }
  for (const note of unavailable) console.log(`\nnote: ${formatNote(note)}`);
}
log(`\n${unsupported} (configuration, contender) pairs a contender does not implement were left out.`);
log(`report: ${files.join(", ")}`);
