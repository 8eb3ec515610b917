import * as Plot from "@observablehq/plot";
import { type Backend, ropeSpec } from "ropekit";

/** A pair (1, 0) at positions 0…63, rotated by the backend, for the fastest and the slowest pair. */
export async function renderRotation(el: HTMLElement, backend: Backend): Promise<void> {
  const d = 64;
  const positions = 64;
  const spec = ropeSpec({ headDim: d });
  const x = new Float32Array(positions * d);
  for (let t = 0; t < positions; t++) {
    x[t * d] = 1; // pair 0: channels 0 and 32
    x[t * d + d / 2 - 1] = 1; // pair 31: channels 31 and 63
  }
  const out = (await backend.applyRope({ data: x, shape: [1, positions, 1, d], layout: "bshd" }, spec)).data;
  const points = [];
  for (let t = 0; t < positions; t++) {
    points.push({
      pair: "pair 0 (θ = 1)",
      position: t,
      x: out[t * d] as number,
      y: out[t * d + d / 2] as number,
    });
    points.push({
      pair: `pair 31 (θ = ${(10000 ** (-62 / 64)).toExponential(1)})`,
      position: t,
      x: out[t * d + d / 2 - 1] as number,
      y: out[t * d + d - 1] as number,
    });
  }
  el.replaceChildren(
    Plot.plot({
      width: 520,
      height: 380,
      aspectRatio: 1,
      x: { domain: [-1.1, 1.1], label: "first channel" },
      y: { domain: [-1.1, 1.1], label: "second channel" },
      color: { legend: true },
      marks: [
        Plot.ruleX([0], { stroke: "#ccc" }),
        Plot.ruleY([0], { stroke: "#ccc" }),
        Plot.line(points, { x: "x", y: "y", stroke: "pair", z: "pair", strokeOpacity: 0.5 }),
        Plot.dot(points, {
          x: "x",
          y: "y",
          fill: "pair",
          r: 2.5,
          title: (p: { position: number }) => `position ${p.position}`,
        }),
      ],
    }),
  );
}
