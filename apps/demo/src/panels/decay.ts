import * as Plot from "@observablehq/plot";
import { type RopeSpec, ropeFrequencies, ropeSpec } from "ropekit";

/**
 * RoFormer's bound on the relative score: (1/(d/2))·Σⱼ |Sⱼ(r)| with Sⱼ(r) = Σ_{i<j} e^{i·r·θᵢ}. It decays
 * with distance r; bigger bases and scalings push the decay further out.
 */
function bound(spec: RopeSpec, r: number): number {
  const { invFreq } = ropeFrequencies(spec);
  let re = 0;
  let im = 0;
  let total = 0;
  for (const theta of invFreq) {
    re += Math.cos(r * theta);
    im += Math.sin(r * theta);
    total += Math.hypot(re, im);
  }
  return total / invFreq.length;
}

/** The bound against distance (log scale), for several bases and scalings. */
export function renderDecay(el: HTMLElement): void {
  const head = 128;
  const variants: [string, RopeSpec][] = [
    ["base 10 000", ropeSpec({ headDim: head })],
    ["base 500 000", ropeSpec({ headDim: head, base: 500000 })],
    ["base 10 000, linear ×4", ropeSpec({ headDim: head, scaling: { type: "linear", factor: 4 } })],
    [
      "base 10 000, YaRN ×4",
      ropeSpec({
        headDim: head,
        scaling: {
          type: "yarn",
          factor: 4,
          originalMaxPositionEmbeddings: 4096,
          betaFast: 32,
          betaSlow: 1,
          truncate: true,
        },
      }),
    ],
  ];
  const distances = Array.from({ length: 160 }, (_, i) => Math.round(10 ** ((i / 159) * Math.log10(65536))));
  const rows = variants.flatMap(([name, spec]) =>
    distances.map((r) => ({ variant: name, distance: r, bound: bound(spec, r) })),
  );
  el.replaceChildren(
    Plot.plot({
      width: 560,
      height: 340,
      x: { type: "log", label: "relative distance m − n", grid: true },
      y: { label: "relative upper bound", grid: true },
      color: { legend: true },
      marks: [Plot.line(rows, { x: "distance", y: "bound", stroke: "variant" })],
    }),
  );
}
