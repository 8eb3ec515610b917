// A real model's attention layer from a config.json and a safetensors shard, as transformers runs it.
//   node packages/ropekit/examples/hf-layer-from-checkpoint.mjs [family]   (after a build; default qwen3)
// Writes a small checkpoint (seeded weights of transformers 4.57.6's parity fixtures, no download) to a
// temporary folder, loads it back with loadSafetensors, builds layer N with attentionFromHF, runs the
// fixture's cached decode (prefill, then one token at a time) and prints the error against the output
// transformers computed. Exits 1 if the error is over the fixture's tolerance.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HF_PARITY_FIXTURES } from "@ropekit/core/testing";
import { attentionFromHF, encodeSafetensors, getBackend, loadSafetensors } from "ropekit";

const family = process.argv[2] ?? "qwen3";
const fixture = HF_PARITY_FIXTURES.find((f) => f.family === family);
if (!fixture) {
  console.error(
    `no fixture for ${family}; try: ${[...new Set(HF_PARITY_FIXTURES.map((f) => f.family))].join(", ")}`,
  );
  process.exit(2);
}

// 1. A checkpoint on disk: config.json and model.safetensors with the layer's tensors under their full names.
const dir = mkdtempSync(join(tmpdir(), "ropekit-hf-layer-"));
const prefix = `model.layers.${fixture.layer_idx}.self_attn.`;
const tensors = Object.fromEntries(
  Object.entries(fixture.weights).map(([name, t]) => [
    prefix + name,
    { data: Float32Array.from(t.data), shape: t.shape },
  ]),
);
writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(tensors));
writeFileSync(join(dir, "config.json"), JSON.stringify(fixture.config, null, 2));

// 2. The layer, from the files, on the backend ropekit picks for this runtime.
const { backend, name, mode } = await getBackend();
const config = JSON.parse((await import("node:fs")).readFileSync(join(dir, "config.json"), "utf8"));
const weights = await loadSafetensors(join(dir, "model.safetensors"));
const layer = attentionFromHF(backend, config, weights, { layerIdx: fixture.layer_idx });

// 3. Prefill and decode through a KV cache, each step against transformers' output.
const scenario = fixture.scenarios.find((s) => s.name.startsWith("decode")) ?? fixture.scenarios[0];
let cache;
let worst = 0;
for (const step of scenario.steps) {
  const [batch, seq, hidden] = step.hidden_states.shape;
  if (step.new_cache) cache = layer.createCache(batch);
  const out = await layer.forward(
    { data: Float32Array.from(step.hidden_states.data), shape: [batch, seq, hidden] },
    { cache, attentionMask: step.attention_mask.data },
  );
  let err = 0;
  let scale = 0;
  for (let row = 0; row < batch * seq; row++) {
    if (step.compare.data[row] !== 1) continue;
    for (let c = 0; c < hidden; c++) {
      const e = step.expected.data[row * hidden + c];
      err = Math.max(err, Math.abs(out.data[row * hidden + c] - e));
      scale = Math.max(scale, Math.abs(e));
    }
  }
  worst = Math.max(worst, err / scale);
  console.log(
    `step: ${seq} token(s), cache ${cache?.length ?? 0} positions, error ${(err / scale).toExponential(2)}`,
  );
}
rmSync(dir, { recursive: true, force: true });
console.log(
  `family        ${fixture.title}, layer ${fixture.layer_idx} (${Object.keys(weights).length} tensors from model.safetensors)`,
);
console.log(`backend       ${name} (mode ${mode})`);
console.log(
  `max error     ${worst.toExponential(2)} of max |output| against transformers 4.57.6 (bound 1e-4)`,
);
process.exit(worst <= 1e-4 ? 0 : 1);
