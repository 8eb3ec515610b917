import * as Plot from "@observablehq/plot";
import { type RopeSpec, RopekitError, ropeFrequencies, ropeSpec, ropeSpecFromHF } from "ropekit";

const head = 128;
const original = 4096;

/** The built-in scalings, all for head 128 and an original context of 4096. */
function builtins(): { name: string; spec: RopeSpec; seqLen?: number }[] {
  return [
    { name: "default", spec: ropeSpec({ headDim: head }) },
    { name: "linear ×4", spec: ropeSpec({ headDim: head, scaling: { type: "linear", factor: 4 } }) },
    {
      name: "dynamic NTK ×4 at 16k",
      spec: ropeSpec({
        headDim: head,
        scaling: { type: "dynamic", factor: 4, maxPositionEmbeddings: original },
      }),
      seqLen: 16384,
    },
    {
      name: "YaRN ×4",
      spec: ropeSpec({
        headDim: head,
        scaling: {
          type: "yarn",
          factor: 4,
          originalMaxPositionEmbeddings: original,
          betaFast: 32,
          betaSlow: 1,
          truncate: true,
        },
      }),
    },
    {
      name: "llama3 ×8",
      spec: ropeSpec({
        headDim: head,
        scaling: {
          type: "llama3",
          factor: 8,
          lowFreqFactor: 1,
          highFreqFactor: 4,
          originalMaxPositionEmbeddings: original,
        },
      }),
    },
    {
      name: "LongRoPE (long)",
      spec: ropeSpec({
        headDim: head,
        scaling: {
          type: "longrope",
          shortFactor: Array.from({ length: head / 2 }, () => 1),
          longFactor: Array.from({ length: head / 2 }, (_, i) => 1 + (31 * i) / (head / 2 - 1)),
          originalMaxPositionEmbeddings: original,
          factor: 32,
        },
      }),
      seqLen: 8192,
    },
  ];
}

function wavelengths(name: string, spec: RopeSpec, seqLen?: number) {
  const { invFreq } = ropeFrequencies(spec, seqLen !== undefined ? { seqLen } : {});
  return Array.from(invFreq, (f, pair) => ({ scaling: name, pair, wavelength: (2 * Math.PI) / f }));
}

/** Wavelength per pair for every scaling, plus the pasted config (or its error). */
export function renderFrequencies(
  el: HTMLElement,
  configText: string,
  result: HTMLElement,
  errorBox: HTMLElement,
): void {
  const rows = builtins().flatMap((b) => wavelengths(b.name, b.spec, b.seqLen));
  errorBox.hidden = true;
  let mine: { spec: RopeSpec; attentionScale: number } | undefined;
  try {
    const spec = ropeSpecFromHF(JSON.parse(configText));
    mine = { spec, attentionScale: ropeFrequencies(spec).attentionScale };
    rows.push(...wavelengths("your config", spec));
    result.textContent = `your config: ${spec.scaling.type}, rotary dim ${spec.rotaryDim} of ${spec.headDim}, base ${spec.base}; attention scale `;
    const scale = document.createElement("b");
    scale.dataset.testid = "attention-scale";
    scale.textContent = String(mine.attentionScale);
    result.append(scale);
  } catch (error) {
    result.textContent = "";
    errorBox.hidden = false;
    errorBox.textContent =
      error instanceof RopekitError
        ? `RopekitError ${error.code}: ${error.message}`
        : `Not valid JSON: ${(error as Error).message}`;
  }
  el.replaceChildren(
    Plot.plot({
      width: 560,
      height: 360,
      y: { type: "log", label: "wavelength (tokens per turn)", grid: true },
      x: { label: "channel pair i" },
      color: { legend: true },
      marks: [
        Plot.ruleY([original], { stroke: "#999", strokeDasharray: "4 3" }),
        Plot.text([{ pair: 2, wavelength: original }], {
          x: "pair",
          y: "wavelength",
          text: () => "original context 4096",
          dy: -8,
          textAnchor: "start",
        }),
        Plot.line(rows, {
          x: "pair",
          y: "wavelength",
          stroke: "scaling",
          strokeWidth: (r: { scaling: string }) => (r.scaling === "your config" ? 3 : 1.5),
        }),
      ],
    }),
  );
}
