// Applies RoPE from a real model's config.json (Llama-3.1-8B by default, llama3 scaling) on the backend
// ropekit picks, and checks the result against the f64 reference.
//   node examples/llama3-from-config.mjs [path/to/config.json]
// ROPEKIT_BACKEND=reference forces a backend.
import { readFileSync } from "node:fs";
import {
  applyRopeQK,
  applyRopeReference,
  getBackend,
  maxRelativeError,
  ropeFrequencies,
  ropeSpecFromHF,
} from "ropekit";

const path = process.argv[2] ?? new URL("./llama-3.1-8b.config.json", import.meta.url);
const config = JSON.parse(readFileSync(path, "utf8"));
const spec = ropeSpecFromHF(config);

const { invFreq, attentionScale } = ropeFrequencies(spec);
const kvHeads = config.num_key_value_heads ?? config.num_attention_heads;
const qHeads = config.num_attention_heads;
const seq = 8;
const start = 131072 - seq; // the last positions of Llama-3.1's 128k context

const fill = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * seed) * 2);
const q = {
  data: fill(seq * qHeads * spec.headDim, 12.9898),
  shape: [1, seq, qHeads, spec.headDim],
  layout: "bshd",
};
const k = {
  data: fill(seq * kvHeads * spec.headDim, 78.233),
  shape: [1, seq, kvHeads, spec.headDim],
  layout: "bshd",
};

const picked = await getBackend();
const t0 = performance.now();
const out = await applyRopeQK(q, k, spec, { positions: start });
const ms = performance.now() - t0;
const ref = applyRopeReference(q, spec, { positions: start });

const fmt = (x) => x.toFixed(6).padStart(10);
const band = (i) => (2 * Math.PI) / invFreq[i];
console.log(
  `config        ${typeof path === "string" ? path : "examples/llama-3.1-8b.config.json"} (model_type ${config.model_type})`,
);
console.log(
  `spec          headDim ${spec.headDim}, rotaryDim ${spec.rotaryDim}, base ${spec.base}, pairing ${spec.pairing}, scaling ${JSON.stringify(spec.scaling)}`,
);
console.log(
  `frequencies   ${invFreq.length} pairs; wavelength ${band(0).toFixed(2)} … ${band(invFreq.length - 1).toExponential(3)} tokens; attention scale ${attentionScale}`,
);
console.log(`backend       ${picked.name} (mode ${picked.mode}; ${picked.reason})`);
for (const s of picked.skipped) console.log(`  skipped     ${s.name}: ${s.reason}`);
console.log(
  `q, k          q [1, ${seq}, ${qHeads}, ${spec.headDim}], k [1, ${seq}, ${kvHeads}, ${spec.headDim}] (bshd) at positions ${start}…${start + seq - 1}`,
);
console.log(`q[token 0, head 0, channels 0..3]`);
console.log(`  before      ${Array.from(q.data.subarray(0, 4), fmt).join(" ")}`);
console.log(`  after       ${Array.from(out.q.data.subarray(0, 4), fmt).join(" ")}`);
console.log(`  f64 ref     ${Array.from(ref.data.subarray(0, 4), fmt).join(" ")}`);
console.log(
  `max error     ${maxRelativeError(out.q.data, ref.data).toExponential(2)} (relative to max |q|; bound 1e-5)`,
);
console.log(`time          ${ms.toFixed(2)} ms for q and k (first call, includes the cos/sin table)`);
