import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The consumer check packs and installs tarballs with npm: give it room on a 2-core machine.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
