import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The worker threads load dist/worker.js and the compiled .wasm: tests run against the build.
    alias: { "../src/index.js": new URL("./dist/index.js", import.meta.url).pathname },
  },
});
