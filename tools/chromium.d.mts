import type { TestProjectInlineConfiguration } from "vitest/config";

/** Debian's Chromium (never a downloaded browser), unless CHROMIUM_PATH names another. */
export declare const CHROMIUM_PATH: string;
/** No sandbox (containers) and no background network traffic. */
export declare const OFFLINE_FLAGS: readonly string[];
/** WebGPU (and WebGL2) on SwiftShader where there is no GPU. */
export declare const SOFTWARE_GPU_FLAGS: readonly string[];
/** The flags every suite launches Chromium with. */
export declare const CHROMIUM_FLAGS: string[];
/** Whether `suite`'s browser project should exist (always under CI); warns NOT RUN otherwise. */
export declare function chromiumProjectEnabled(suite: string): boolean;
/** A vitest browser project in headless Chromium with CHROMIUM_FLAGS; `playwright` is the package's provider. */
export declare function chromiumProject(
  playwright: (options: { launchOptions: { executablePath: string; args: string[] } }) => unknown,
  test: NonNullable<TestProjectInlineConfiguration["test"]>,
): TestProjectInlineConfiguration;
