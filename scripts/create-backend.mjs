// Creates a backend package from packages/backend-example (the template is a real, tested package):
//   pnpm create-backend <name> [--out <dir>]
// <name>: lowercase letters, digits and dashes (e.g. "webgpu"); the package is @ropekit/backend-<name>
// in packages/backend-<name> unless --out says where.
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: "string" } } });
const name = positionals[0];
if (!name || !/^[a-z][a-z0-9-]*$/.test(name)) {
  console.error(
    "usage: pnpm create-backend <name> [--out <dir>]   (name: lowercase letters, digits, dashes)",
  );
  process.exit(2);
}
const words = name.split("-");
const pascal = words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
const camel = pascal[0].toLowerCase() + pascal.slice(1);
const target = values.out ?? join(root, "packages", `backend-${name}`);
if (existsSync(target) && readdirSync(target).length > 0) {
  console.error(`${target} exists and is not empty: refusing to overwrite`);
  process.exit(1);
}

const template = join(root, "packages", "backend-example");
// Build output, installs and the test of this script itself are not part of the template.
const skip = (path) => /node_modules|dist|\.turbo|template\.test\.ts$/.test(relative(template, path));
const files = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (skip(path)) continue;
    if (statSync(path).isDirectory()) walk(path);
    else files.push(path);
  }
};
walk(template);
for (const file of files) {
  // Every "example" in the template is its name: the registration's camelCase, the factory's PascalCase,
  // and the plain name everywhere else.
  const text = readFileSync(file, "utf8")
    .replaceAll("exampleRegistration", `${camel}Registration`)
    .replaceAll("Example", pascal)
    .replaceAll("example", name);
  const out = join(target, relative(template, file));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
}
console.log(
  `created @ropekit/backend-${name} in ${relative(process.cwd(), target) || "."} (${files.length} files)`,
);
console.log(
  `next: npx -y pnpm@10.34.9 install && npx -y pnpm@10.34.9 --filter @ropekit/backend-${name} test`,
);
