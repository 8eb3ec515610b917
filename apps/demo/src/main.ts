import "./style.css";
import { type PickedBackend, createWasmBackend, getBackend, listBackends, pickBackend } from "ropekit";
import { DEFAULT_CONFIG } from "./data.js";
import { renderAttention } from "./panels/attention.js";
import { renderDecay } from "./panels/decay.js";
import { renderFrequencies } from "./panels/frequencies.js";
import { renderRelative } from "./panels/relative.js";
import { renderRotation } from "./panels/rotation.js";
import { type SpeedRow, measure, renderSpeed } from "./panels/speed.js";
import { renderWebgpuStatus, webgpuStatus } from "./panels/webgpu.js";

const $ = <T extends HTMLElement>(selector: string): T => document.querySelector(selector) as T;
const plotOf = (panel: string): HTMLElement => $(`#${panel} .plot`);

const select = $<HTMLSelectElement>("#backend");
const info = $("#backend-info");
const webgpuInfo = $("#webgpu-info");
const config = $<HTMLTextAreaElement>("#config");
config.value = JSON.stringify(DEFAULT_CONFIG, null, 2);

function showConfig(): void {
  renderFrequencies(plotOf("frequencies"), config.value, $("#config-result"), $("#config-error"));
}

async function render(picked: PickedBackend): Promise<void> {
  document.body.dataset.ready = "false";
  info.textContent = `${picked.name} — ${picked.mode} (${picked.reason})`;
  info.dataset.backend = picked.name;
  select.value = picked.name;
  const backend = picked.backend;
  await renderRotation(plotOf("rotation"), backend);
  showConfig();
  await renderRelative(plotOf("relative"), $("#relative-values"), backend);
  renderDecay(plotOf("decay"));
  await renderAttention(plotOf("attention"), $("#attention-values"), backend);
  renderSpeed(plotOf("speed"), [{ backend: picked.name, mode: picked.mode, ...(await measure(backend)) }]);
  document.body.dataset.ready = "true";
}

/** A speed row for a backend, or the reason it cannot run here. */
async function speedRow(name: string): Promise<SpeedRow> {
  try {
    const picked = await getBackend({ backend: name });
    return { backend: name, mode: picked.mode, ...(await measure(picked.backend)) };
  } catch (error) {
    return {
      backend: name,
      mode: "unavailable",
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

async function main(): Promise<void> {
  for (const { name } of listBackends()) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    select.append(option);
  }
  // pickBackend reads ?backend= from the URL; the select switches afterwards. The automatic pick (no
  // ?backend=) is what says whether webgpu was taken, declined or unavailable, and why.
  const first = await getBackend();
  renderWebgpuStatus(webgpuInfo, webgpuStatus(await pickBackend({ url: "" })));
  await render(first);
  select.addEventListener("change", async () => render(await getBackend({ backend: select.value })));
  $("#config-apply").addEventListener("click", showConfig);
  $<HTMLInputElement>("#config-file").addEventListener("change", async (event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (!file) return;
    config.value = await file.text();
    showConfig();
  });
  $("#speed-run").addEventListener("click", async () => {
    const picked = await getBackend();
    renderSpeed(plotOf("speed"), [
      { backend: picked.name, mode: picked.mode, ...(await measure(picked.backend)) },
    ]);
  });
  $("#speed-all").addEventListener("click", async () => {
    const rows: SpeedRow[] = [];
    for (const { name } of listBackends()) rows.push(await speedRow(name));
    // The page is crossOriginIsolated (COOP/COEP), so backend-wasm can also run on Web Workers.
    const threaded = await createWasmBackend({ threads: 2 });
    rows.push({ backend: "wasm, 2 threads", mode: threaded.describe().mode, ...(await measure(threaded)) });
    threaded.dispose();
    await getBackend({ backend: select.value });
    renderSpeed(plotOf("speed"), rows);
    document.body.dataset.compared = "true";
  });
}

main().catch((error: unknown) => {
  info.textContent = `failed: ${error instanceof Error ? error.message : String(error)}`;
  console.error(error);
});
