// Debian's headless Chromium, for every browser test and the bench's browser half: where it is, and the
// flags that give WebGL2 and WebGPU on SwiftShader without a GPU (the real GPU on a machine with one) while
// keeping Chromium off the network of a closed machine. One list, so every suite launches the same browser.
import { existsSync } from "node:fs";

/** Debian's Chromium (never a downloaded browser), unless CHROMIUM_PATH names another. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** No sandbox (containers) and no background network traffic. */
export const OFFLINE_FLAGS = [
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** WebGPU (and WebGL2) on SwiftShader where there is no GPU. */
export const SOFTWARE_GPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader"];

/** The flags every suite launches Chromium with. */
export const CHROMIUM_FLAGS = [...OFFLINE_FLAGS, ...SOFTWARE_GPU_FLAGS];

/**
 * Whether `suite`'s browser project should exist: yes where Chromium is installed, and always under CI
 * (there the project stays and fails to launch: a suite that cannot start fails). Elsewhere it warns that
 * the suite is NOT RUN.
 */
export function chromiumProjectEnabled(suite) {
  if (existsSync(CHROMIUM_PATH)) return true;
  const message = `${suite}: ${CHROMIUM_PATH} not found — its Chromium suite is NOT RUN`;
  if (process.env.CI) console.error(`${message} (CI: this fails the run)`);
  else console.warn(`${message} (install Debian's chromium to run it)`);
  return Boolean(process.env.CI);
}

/** A vitest browser project in headless Chromium with CHROMIUM_FLAGS; `playwright` is the package's provider. */
export function chromiumProject(playwright, test) {
  return {
    extends: true,
    test: {
      ...test,
      browser: {
        enabled: true,
        headless: true,
        screenshotFailures: false,
        provider: playwright({ launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS } }),
        instances: [{ browser: "chromium" }],
      },
    },
  };
}
