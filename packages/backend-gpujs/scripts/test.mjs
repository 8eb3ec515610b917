// Runs this package's tests. headless-gl needs an X display: without one, and with xvfb-run on the
// machine, the run goes under `xvfb-run -a` (Mesa's software rasteriser); otherwise as it is, and the
// headless-gl suite reports itself NOT RUN (or fails, under CI).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../node_modules/.bin/vitest", import.meta.url));
const vitest = [bin, "run", ...process.argv.slice(2)];
const hasXvfb = spawnSync("sh", ["-c", "command -v xvfb-run"], { stdio: "ignore" }).status === 0;
const command = !process.env.DISPLAY && hasXvfb ? ["xvfb-run", "-a", ...vitest] : vitest;
const result = spawnSync(command[0], command.slice(1), { stdio: "inherit", shell: false });
process.exit(result.status ?? 1);
