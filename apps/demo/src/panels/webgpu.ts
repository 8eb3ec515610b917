import type { PickedBackend, WebgpuBackend } from "ropekit";

/** What became of webgpu in a pick: picked, declined (a software or fallback adapter) or unavailable. */
export interface WebgpuStatus {
  readonly state: "picked" | "declined" | "unavailable" | "not reached";
  /** The adapter, when one was found. */
  readonly adapter?: string;
  readonly reason: string;
}

function adapterOf(picked: PickedBackend): string | undefined {
  if (picked.name !== "webgpu") return undefined;
  const a = (picked.backend as WebgpuBackend).adapter;
  return [a.vendor, a.architecture, a.description].filter(Boolean).join(" / ") || "unnamed adapter";
}

/** Reads webgpu's fate from the pick (its skip reason says why it was passed over). */
export function webgpuStatus(picked: PickedBackend): WebgpuStatus {
  if (picked.name === "webgpu") {
    return { state: "picked", adapter: adapterOf(picked) as string, reason: picked.reason };
  }
  const skip = picked.skipped.find((s) => s.name === "webgpu");
  if (!skip) return { state: "not reached", reason: "webgpu is not registered" };
  if (skip.reason.startsWith("not picked automatically: ")) {
    const adapter = /adapter \(?([^)]*?)\)?,? (?:is a|which)/.exec(skip.reason)?.[1];
    return {
      state: "declined",
      ...(adapter ? { adapter } : {}),
      reason: skip.reason.replace(/^not picked automatically: /, ""),
    };
  }
  if (skip.reason.startsWith("not chosen") || skip.reason.startsWith("lower priority"))
    return { state: "not reached", reason: skip.reason };
  return { state: "unavailable", reason: skip.reason.replace(/^failed to initialise: /, "") };
}

/** One line in the header: "WebGPU: declined — … (ask for it with ?backend=webgpu)". */
export function renderWebgpuStatus(el: HTMLElement, status: WebgpuStatus): void {
  el.dataset.state = status.state;
  const hint = status.state === "declined" ? " (choose webgpu above to run it anyway)" : "";
  el.textContent = `WebGPU: ${status.state}${status.adapter ? ` on ${status.adapter}` : ""} — ${status.reason}${hint}`;
}
