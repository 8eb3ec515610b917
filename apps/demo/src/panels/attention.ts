import * as Plot from "@observablehq/plot";
import { type AttentionOptions, type Backend, ropeSpec } from "ropekit";
import { PERMUTATION, SENTENCE, TOKEN_DIM, tokenEmbedding } from "../data.js";

type Encoding = "no position encoding" | "sinusoidal" | "RoPE";

/**
 * Attention weights of a sentence, computed by the backend's attention op: q = k = the token
 * embeddings (plus the encoding), and v = the identity, so output row i is row i of softmax(q·kᵀ/√d).
 */
export async function attentionWeights(
  backend: Backend,
  order: readonly number[],
  encoding: Encoding,
): Promise<Float32Array> {
  const n = order.length;
  const d = TOKEN_DIM;
  let x = new Float32Array(n * d);
  for (const [i, token] of order.entries()) x.set(tokenEmbedding(token), i * d);
  if (encoding === "sinusoidal") {
    x = Float32Array.from((await backend.addSinusoidal({ data: x, shape: [1, n, d] })).data);
  }
  const identity = new Float32Array(n * n);
  for (let i = 0; i < n; i++) identity[i * n + i] = 1;
  const heads = (data: Float32Array, width: number) => ({
    data,
    shape: [1, n, 1, width] as [number, number, number, number],
    layout: "bshd" as const,
  });
  const options: AttentionOptions =
    encoding === "RoPE" ? { rope: { rope: ropeSpec({ headDim: d }), qPositions: 0, kPositions: 0 } } : {};
  const { output } = await backend.attention(heads(x, d), heads(x, d), heads(identity, n), options);
  return Float32Array.from(output.data);
}

/** Largest difference between the permuted sentence's map and the original map with rows/columns permuted. */
function permutationGap(original: Float32Array, permuted: Float32Array, n: number): number {
  let gap = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const expected = original[(PERMUTATION[i] as number) * n + (PERMUTATION[j] as number)] as number;
      gap = Math.max(gap, Math.abs((permuted[i * n + j] as number) - expected));
    }
  }
  return gap;
}

/** Maps for no PE, sinusoidal and RoPE, for the sentence and its permutation. */
export async function renderAttention(el: HTMLElement, values: HTMLElement, backend: Backend): Promise<void> {
  const n = SENTENCE.length;
  const identityOrder = SENTENCE.map((_, i) => i);
  const encodings: Encoding[] = ["no position encoding", "sinusoidal", "RoPE"];
  const box = document.createElement("div");
  box.className = "plots";
  values.innerHTML = "";
  for (const encoding of encodings) {
    const original = await attentionWeights(backend, identityOrder, encoding);
    const permuted = await attentionWeights(backend, PERMUTATION, encoding);
    const gap = permutationGap(original, permuted, n);
    const note = document.createElement("span");
    note.dataset.testid = `perm-${encoding === "RoPE" ? "rope" : encoding === "sinusoidal" ? "sinusoidal" : "none"}`;
    note.dataset.gap = String(gap);
    note.textContent = `${encoding}: permuted map − permuted original = ${gap.toExponential(1)}. `;
    values.append(note);
    for (const [order, weights, label] of [
      [identityOrder, original, "sentence"],
      [PERMUTATION, permuted, "permuted"],
    ] as const) {
      const cells = [];
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          cells.push({
            query: `${i}:${SENTENCE[order[i] as number]}`,
            key: `${j}:${SENTENCE[order[j] as number]}`,
            weight: weights[i * n + j] as number,
          });
        }
      }
      box.append(
        Plot.plot({
          width: 180,
          height: 190,
          marginLeft: 60,
          marginBottom: 40,
          title: `${encoding}, ${label}`,
          x: { label: null, tickRotate: -30, domain: cells.slice(0, n).map((c) => c.key) },
          y: { label: null, domain: cells.filter((_, idx) => idx % n === 0).map((c) => c.query) },
          color: { scheme: "Blues", domain: [0, 1] },
          marks: [
            Plot.cell(cells, { x: "key", y: "query", fill: "weight" }),
            Plot.text(cells, {
              x: "key",
              y: "query",
              text: (c: { weight: number }) => c.weight.toFixed(2),
              fontSize: 9,
            }),
          ],
        }),
      );
    }
  }
  el.replaceChildren(box);
}
