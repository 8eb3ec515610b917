// Compiles the AssemblyScript kernels into dist/ (no .wasm is committed). Four variants, picked at
// run time by feature detection: plain SIMD, relaxed SIMD (fused multiply-add), and each with threads
// (shared, imported memory for worker threads).
import { mkdirSync } from "node:fs";
import asc from "assemblyscript/asc";

const common = [
  "assembly/index.ts",
  "--importMemory",
  "--runtime",
  "stub",
  "--noAssert",
  "-O3",
  "--converge",
];
const threads = ["--sharedMemory", "--initialMemory", "1", "--maximumMemory", "65536"];
const variants = {
  simd: ["--enable", "simd"],
  relaxed: ["--enable", "simd,relaxed-simd"],
  threads: ["--enable", "simd,threads", ...threads],
  "threads-relaxed": ["--enable", "simd,relaxed-simd,threads", ...threads],
};

mkdirSync("dist", { recursive: true });
for (const [name, flags] of Object.entries(variants)) {
  const { error, stderr } = await asc.main([...common, ...flags, "--outFile", `dist/ropekit.${name}.wasm`]);
  if (error) {
    console.error(stderr.toString());
    throw error;
  }
}
console.log(`built ${Object.keys(variants).length} wasm variants into dist/`);
