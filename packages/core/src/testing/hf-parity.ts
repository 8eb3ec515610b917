import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../backend/contract.js";
import type { KVCache } from "../modules/kv-cache.js";
import { attentionFromHF } from "../modules/attention-from-hf.js";
import type { FloatArray, MultimodalPositions, Positions, Tensor } from "../types.js";
import gemma2Local from "./hf-parity/gemma2_local.json" with { type: "json" };
import gemma3Global from "./hf-parity/gemma3_global.json" with { type: "json" };
import gemma3Local from "./hf-parity/gemma3_local.json" with { type: "json" };
import gptOssFull from "./hf-parity/gpt_oss_full.json" with { type: "json" };
import gptOssSliding from "./hf-parity/gpt_oss_sliding.json" with { type: "json" };
import olmo2 from "./hf-parity/olmo2.json" with { type: "json" };
import phi3 from "./hf-parity/phi3_longrope.json" with { type: "json" };
import qwen2Vl from "./hf-parity/qwen2_vl.json" with { type: "json" };
import qwen3 from "./hf-parity/qwen3.json" with { type: "json" };

interface JsonTensor {
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

interface Step {
  readonly new_cache: boolean;
  readonly hidden_states: JsonTensor;
  readonly attention_mask: JsonTensor;
  readonly position_ids: JsonTensor;
  readonly compare: JsonTensor;
  readonly expected: JsonTensor;
}

/** A fixture file of packages/core/src/testing/hf-parity (format ropekit-hf-parity/1; see its README). */
interface ParityFixture {
  readonly family: string;
  readonly title: string;
  readonly config: Record<string, unknown>;
  readonly layer_idx: number;
  readonly weights: Readonly<Record<string, JsonTensor>>;
  readonly scenarios: readonly { readonly name: string; readonly steps: readonly Step[] }[];
}

/** The transformers 4.57.6 fixtures, one per family and layer type. */
export const HF_PARITY_FIXTURES: readonly ParityFixture[] = [
  qwen3,
  gemma3Local,
  gemma3Global,
  gemma2Local,
  olmo2,
  gptOssSliding,
  gptOssFull,
  phi3,
  qwen2Vl,
] as unknown as ParityFixture[];

/** Options of `describeHFParity`. */
export interface HFParityOptions {
  /** Shown in the test names. */
  name: string;
  /** Makes the backend under test (once for the suite). */
  create: () => Backend | Promise<Backend>;
  /** Max |error| over max |expected| per step; the fixtures' own criterion is 1e-4 (f32 rounding, chosen up front). */
  tolerance?: number;
}

/** The fixtures' position ids as the layer takes them: batch·seq ids, or three rows of them (M-RoPE). */
function positionsOf(t: JsonTensor): Positions | MultimodalPositions {
  if (t.shape.length === 3) {
    const n = (t.shape[1] as number) * (t.shape[2] as number);
    return [t.data.slice(0, n), t.data.slice(n, 2 * n), t.data.slice(2 * n)];
  }
  return t.data;
}

/**
 * Declares the parity suite for one backend: every family's fixture (prefill, prefill at an offset,
 * decode with a cache, a left-padded batch) replayed through `attentionFromHF`, each step checked on the
 * rows transformers defines — with the fixtures' position ids, and again with positions derived from
 * the attention mask as generation does.
 */
export function describeHFParity(options: HFParityOptions): void {
  const tolerance = options.tolerance ?? 1e-4;
  describe(`HF parity (transformers 4.57.6): ${options.name}`, { timeout: 120_000 }, () => {
    // The worst error of each scenario, printed at the end so a CI log shows the figures per backend.
    const worstOf = new Map<string, number>();
    // One backend for the whole suite (a GPU backend compiles its pipelines once); each scenario gets a
    // fresh layer and cache.
    let backend: Backend;
    beforeAll(async () => {
      backend = await options.create();
    });
    afterAll(() => {
      backend?.dispose();
      const rows = [...worstOf.entries()].map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join("\n");
      console.info(`[ropekit hf-parity] ${options.name}: max error / max |expected| per scenario\n${rows}`);
    });
    for (const fixture of HF_PARITY_FIXTURES) {
      for (const scenario of fixture.scenarios) {
        for (const derived of [false, true]) {
          // Positions that neither the mask nor the cache can give: an offset chunk, M-RoPE image grids.
          if (derived && (scenario.name === "prefill_offset" || fixture.family.startsWith("qwen2_vl")))
            continue;
          const label = `${fixture.title}: ${scenario.name}${derived ? " (positions from the mask)" : ""}`;
          it(label, async () => {
            const f64 = backend.describe().precision === "f64";
            const make = (values: readonly number[]): FloatArray =>
              f64 ? Float64Array.from(values) : Float32Array.from(values);
            const weights: Record<string, Tensor> = Object.fromEntries(
              Object.entries(fixture.weights).map(([name, t]) => [
                name,
                { data: make(t.data), shape: t.shape },
              ]),
            );
            const layer = attentionFromHF(backend, fixture.config, weights, {
              layerIdx: fixture.layer_idx,
            });
            let cache: KVCache | undefined;
            for (const [s, step] of scenario.steps.entries()) {
              const [batch, seq, hidden] = step.hidden_states.shape as [number, number, number];
              if (step.new_cache) cache = layer.createCache(batch);
              const out = await layer.forward(
                { data: make(step.hidden_states.data), shape: [batch, seq, hidden] },
                {
                  ...(cache ? { cache } : {}),
                  attentionMask: step.attention_mask.data,
                  ...(derived ? {} : { positions: positionsOf(step.position_ids) }),
                },
              );
              let worst = 0;
              let scale = 0;
              for (let row = 0; row < batch * seq; row++) {
                if (step.compare.data[row] !== 1) continue;
                for (let c = 0; c < hidden; c++) {
                  const e = step.expected.data[row * hidden + c] as number;
                  worst = Math.max(worst, Math.abs((out.data[row * hidden + c] as number) - e));
                  scale = Math.max(scale, Math.abs(e));
                }
              }
              worstOf.set(label, Math.max(worstOf.get(label) ?? 0, worst / scale));
              expect(worst / scale, `step ${s}: max error over max |expected|`).toBeLessThanOrEqual(
                tolerance,
              );
            }
          });
        }
      }
    }
  });
}
