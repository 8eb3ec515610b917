import { defineConfig } from "vite";

// COOP/COEP make the page crossOriginIsolated, so backend-wasm can run worker threads over shared memory.
const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default defineConfig({
  base: "./",
  server: { headers: isolation },
  preview: { headers: isolation },
  build: { target: "es2022", outDir: "dist", assetsInlineLimit: 0 },
});
