import { type Backend, ropeSpec } from "ropekit";

/** Median time of `runs` calls, after a few warm-up calls (the JIT and the allocator settle first). */
async function time(run: () => Promise<unknown>, runs = 7): Promise<number> {
  for (let w = 0; w < 5; w++) await run();
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)] as number;
}

/** RoPE [1, 1024, 8, 64] and causal attention [1, 4, 512, 64] on a backend, in ms. */
export async function measure(backend: Backend): Promise<{ rope: number; attention: number }> {
  const spec = ropeSpec({ headDim: 64 });
  const x = {
    data: new Float32Array(1024 * 8 * 64).fill(0.5),
    shape: [1, 1024, 8, 64] as [number, number, number, number],
    layout: "bshd" as const,
  };
  const t = () => ({
    data: new Float32Array(4 * 512 * 64).fill(0.25),
    shape: [1, 4, 512, 64] as [number, number, number, number],
    layout: "bhsd" as const,
  });
  const [q, k, v] = [t(), t(), t()];
  return {
    rope: await time(() => backend.applyRope(x, spec)),
    attention: await time(() => backend.attention(q, k, v, { causal: true })),
  };
}

/** One backend's timings, or why it could not run here. */
export type SpeedRow =
  | { backend: string; mode: string; rope: number; attention: number }
  | { backend: string; mode: "unavailable"; error: string };

/** A table of timings, one row per backend (a backend that cannot run here says why). */
export function renderSpeed(el: HTMLElement, rows: SpeedRow[]): void {
  const table = document.createElement("table");
  table.innerHTML =
    "<tr><th>backend</th><th>mode</th><th>RoPE [1,1024,8,64]</th><th>causal attention [1,4,512,64]</th></tr>";
  for (const r of rows) {
    const tr = document.createElement("tr");
    const cells =
      "error" in r
        ? [r.backend, r.mode, r.error]
        : [r.backend, r.mode, `${r.rope.toFixed(2)} ms`, `${r.attention.toFixed(1)} ms`];
    for (const [i, text] of cells.entries()) {
      const td = document.createElement("td");
      td.textContent = text;
      if ("error" in r && i === 2) td.colSpan = 2; // the reason spans both timing columns
      tr.append(td);
    }
    table.append(tr);
  }
  el.replaceChildren(table);
}
