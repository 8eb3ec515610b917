import { playwright } from "@vitest/browser-playwright";
import { defineConfig } from "vitest/config";
import { chromiumProject, chromiumProjectEnabled } from "../../tools/chromium.mjs";

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/browser/**"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      // WebGL2 and WebGPU in Chromium: SwiftShader without a GPU, the GPU on a machine with one.
      ...(chromiumProjectEnabled("backend-gpujs")
        ? [
            chromiumProject(playwright, {
              name: "chromium",
              include: ["test/browser/**/*.test.ts"],
              testTimeout: 120_000,
              hookTimeout: 120_000,
            }),
          ]
        : []),
    ],
  },
});
