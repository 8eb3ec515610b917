// Turns every gpu.js kernel in dist/ into a string literal after tsc. gpu.js compiles a kernel from its
// source text; a consumer's minifier (Vite's default, terser, esbuild --minify) rewrites function text
// (renamed and reused variables, folded expressions) that gpu.js then cannot type — "Unhandled binary
// expression between Array & Float" — but leaves strings alone. The TypeScript sources keep the kernels
// as functions (type-checked, run as they are by the tests); dist/ ships their text.
// A kernel is a top-level function whose name ends in "Kernel"; tsc closes it with a "}" at column 0.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const KERNEL = /^(export )?function (\w+Kernel)\(([^)]*)\) \{\n[\s\S]*?^\}\n/gm;

let count = 0;
for (const entry of readdirSync("dist", { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith(".js")) continue;
  const file = join(entry.parentPath, entry.name);
  const text = readFileSync(file, "utf8");
  const out = text.replace(KERNEL, (source, exported, name) => {
    count++;
    const body = source.replace(/^export /, "").trimEnd();
    return `${exported ?? ""}const ${name} = ${JSON.stringify(body)};\n`;
  });
  if (out !== text) writeFileSync(file, out);
}
if (count === 0) throw new Error("kernel-strings: no kernel found in dist/ (did tsc run?)");
console.log(`kernel-strings: ${count} gpu.js kernels in dist/ are now source strings`);
