import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { playwright } from "@vitest/browser-playwright";
import { defineConfig } from "vitest/config";
import { chromiumProject, chromiumProjectEnabled } from "../../tools/chromium.mjs";

// Dawn (the `webgpu` package) needs a Vulkan driver. Where none is configured and Chromium's SwiftShader
// ICD is on the machine (Debian's chromium package; CI installs it with libvulkan1), use it, so that
// `npx vitest run` works with no extra environment. A GPU machine sets VK_ICD_FILENAMES itself, or
// leaves it unset and the loader finds the real driver (the ICD default applies only when unset).
const swiftshader = "/usr/lib/chromium/vk_swiftshader_icd.json";
if (!process.env["VK_ICD_FILENAMES"] && !process.env["ROPEKIT_WEBGPU_NATIVE"] && existsSync(swiftshader)) {
  process.env["VK_ICD_FILENAMES"] = swiftshader;
}
if (!process.env["XDG_RUNTIME_DIR"]) {
  const dir = join(tmpdir(), `ropekit-xdg-${process.getuid?.() ?? "user"}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env["XDG_RUNTIME_DIR"] = dir;
}

export default defineConfig({
  test: {
    testTimeout: 300_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true as const,
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/browser/**"],
          env: {
            VK_ICD_FILENAMES: process.env["VK_ICD_FILENAMES"] ?? "",
            XDG_RUNTIME_DIR: process.env["XDG_RUNTIME_DIR"] ?? "",
          },
        },
      },
      // WebGPU in Chromium: SwiftShader without a GPU, the GPU on a machine with one.
      ...(chromiumProjectEnabled("backend-webgpu")
        ? [chromiumProject(playwright, { name: "chromium", include: ["test/browser/**/*.test.ts"] })]
        : []),
    ],
  },
});
