import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // CI runs several packages' suites at once on two cores: a limit of minutes, not 5 s (a hang still fails).
    testTimeout: 120_000,
  },
});
