import * as Plot from "@observablehq/plot";
import { type Backend, ropeSpec } from "ropekit";
import { RELATIVE_DIM, RELATIVE_N, relativeK, relativeQ } from "../data.js";

/** The same vector at every position 0…N−1, as [1, N, 1, d] (bshd). */
function repeated(v: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * v.length);
  for (let t = 0; t < n; t++) out.set(v, t * v.length);
  return out;
}

/** score[m][n] = row m of a · row n of b. */
function scores(a: ArrayLike<number>, b: ArrayLike<number>, n: number, d: number) {
  const cells = [];
  for (let m = 0; m < n; m++) {
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let x = 0; x < d; x++) s += (a[m * d + x] as number) * (b[k * d + x] as number);
      cells.push({ m, n: k, score: s });
    }
  }
  return cells;
}

/** qₘ·kₙ with RoPE (constant diagonals) and with sinusoidal encodings added (not). */
export async function renderRelative(el: HTMLElement, values: HTMLElement, backend: Backend): Promise<void> {
  const n = RELATIVE_N;
  const d = RELATIVE_DIM;
  const spec = ropeSpec({ headDim: d });
  const q = relativeQ();
  const k = relativeK();
  const shape: [number, number, number, number] = [1, n, 1, d];
  const qr = (await backend.applyRope({ data: repeated(q, n), shape, layout: "bshd" }, spec)).data;
  const kr = (await backend.applyRope({ data: repeated(k, n), shape, layout: "bshd" }, spec)).data;
  const rope = scores(qr, kr, n, d);
  const qs = (await backend.addSinusoidal({ data: repeated(q, n), shape: [1, n, d] })).data;
  const ks = (await backend.addSinusoidal({ data: repeated(k, n), shape: [1, n, d] })).data;
  const sinusoidal = scores(qs, ks, n, d);
  const at = (cells: { m: number; n: number; score: number }[], m: number, j: number) =>
    (cells.find((c) => c.m === m && c.n === j) as { score: number }).score;
  values.innerHTML = "";
  const line = (label: string, cells: typeof rope) => {
    const span = document.createElement("span");
    span.textContent = `${label}: q₅·k₃ = ${at(cells, 5, 3).toFixed(4)}, q₁₂·k₁₀ = ${at(cells, 12, 10).toFixed(4)}. `;
    return span;
  };
  const ropeLine = line("RoPE", rope);
  ropeLine.dataset.testid = "relative-rope";
  ropeLine.dataset.score53 = String(at(rope, 5, 3));
  ropeLine.dataset.score1210 = String(at(rope, 12, 10));
  values.append(ropeLine, line("sinusoidal", sinusoidal));
  const heatmap = (cells: typeof rope, title: string) =>
    Plot.plot({
      width: 270,
      height: 290,
      padding: 0,
      title,
      x: { label: "key position n", ticks: [0, 8, 16] },
      y: { label: "query position m", ticks: [0, 8, 16] },
      color: { scheme: "RdBu", type: "diverging" },
      marks: [Plot.cell(cells, { x: "n", y: "m", fill: "score", inset: 0 })],
    });
  const box = document.createElement("div");
  box.className = "plots";
  box.append(heatmap(rope, "RoPE: qₘ·kₙ"), heatmap(sinusoidal, "sinusoidal: (q+PEₘ)·(k+PEₙ)"));
  el.replaceChildren(box);
}
