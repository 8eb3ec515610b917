import { defineConfig } from "vitest/config";

const dist = new URL("./dist/index.js", import.meta.url).pathname;

export default defineConfig({
  test: {
    // The compiled kernels are embedded into dist/ by the build (scripts/build-wasm.mjs): tests run against it.
    alias: { "../src/index.js": dist },
    // CI runs several packages' suites at once on two cores: a limit of minutes, not 5 s (a hang still fails).
    testTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: "simd", include: ["test/**/*.test.ts"], exclude: ["test/relaxed.test.ts"] },
      },
      {
        extends: true,
        test: {
          name: "relaxed-simd",
          include: ["test/relaxed.test.ts"],
          execArgv: ["--experimental-wasm-relaxed-simd"],
        },
      },
    ],
  },
});
