import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { playwright } from "@vitest/browser-playwright";
import { defineConfig } from "vitest/config";

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

// Debian's Chromium, never a downloaded browser. Without it the browser project cannot run: under CI
// that is a failure (the project stays and fails to launch), elsewhere it is reported as NOT RUN.
const chromium = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const haveChromium = existsSync(chromium);
if (!haveChromium) {
  const message = `backend-webgpu: ${chromium} not found — the WebGPU conformance in Chromium is NOT RUN`;
  if (process.env["CI"]) console.error(`${message} (CI: this fails the run)`);
  else console.warn(`${message} (install Debian's chromium to run it)`);
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
      ...(haveChromium || process.env["CI"]
        ? [
            {
              extends: true as const,
              test: {
                name: "chromium",
                include: ["test/browser/**/*.test.ts"],
                browser: {
                  enabled: true,
                  headless: true,
                  screenshotFailures: false,
                  provider: playwright({
                    launchOptions: {
                      executablePath: chromium,
                      // WebGPU on SwiftShader without a GPU (the unsafe flags); the GPU on a machine with
                      // one. The network flags keep Chromium from calling out of this closed machine.
                      args: [
                        "--no-sandbox",
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--enable-unsafe-webgpu",
                        "--enable-unsafe-swiftshader",
                      ],
                    },
                  }),
                  instances: [{ browser: "chromium" as const }],
                },
              },
            },
          ]
        : []),
    ],
  },
});
