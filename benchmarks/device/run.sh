#!/usr/bin/env bash
# backend-webgpu on a real GPU: Dawn's Node binding (npm `webgpu` 0.6.2) through the NVIDIA Vulkan driver.
# One-shot, self-checking: an adapter check, a conformance subset (every attention kernel against core's
# f64 reference), a WGSL copy ceiling, prefill 8 × S × 64 for S = 1024 … 32768 (causal and not) and decode
# 1 × 8192 / 32768 (32:8 heads × 128). Output lines: ADAPTER, PASS/FAIL, CEILING, BENCH, SUMMARY.
#
# Three steps:
#   1. here (repo built: `pnpm build`):   bash benchmarks/device/run.sh prepare
#      stages .device-carry/ (git-ignored via .git/info/exclude, ~45 MB): the built dist of @ropekit/core
#      and @ropekit/backend-webgpu, only linux-x64 of `webgpu` (index.js, package.json, dawn.node ≈ 21 MB,
#      xz-packed), a node binary (xz-packed; the device image has no Node), the libvulkan1 .deb, and
#      packages/backend-webgpu/scripts/device-bench.mjs.
#   2. optional, here:                       bash benchmarks/device/run.sh local
#      runs the staged copy on SwiftShader with --quick: proves the carry is complete (no GPU needed).
#   3. on the lent machine (device tool):    run(command="bash benchmarks/device/run.sh device",
#                                                carry=[".device-carry"], timeout_s=540)
#      writes $OUT/device-bench.log and $OUT/device-bench.json; exit status 0 only if every check passed
#      on a hardware adapter. The whole grid is sized for well under 8 minutes on an H200.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARRY="$ROOT/.device-carry"
MODE="${1:-}"

stage() {
  local pkg="$1" to="$CARRY/node_modules/$2"
  mkdir -p "$to"
  cp "$ROOT/packages/$pkg/package.json" "$to/"
  cp -r "$ROOT/packages/$pkg/dist" "$to/"
}

case "$MODE" in
prepare)
  for p in core backend-webgpu; do
    [ -f "$ROOT/packages/$p/dist/index.js" ] || { echo "packages/$p/dist missing: run pnpm build first" >&2; exit 1; }
  done
  grep -qx '/.device-carry/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.device-carry/' >>"$ROOT/.git/info/exclude"
  rm -rf "$CARRY"
  mkdir -p "$CARRY/node_modules/webgpu" "$CARRY/gl"
  stage core @ropekit/core
  stage backend-webgpu @ropekit/backend-webgpu
  WEBGPU="$(cd "$ROOT/packages/backend-webgpu/node_modules/webgpu" && pwd -P)"
  cp "$WEBGPU/package.json" "$WEBGPU/index.js" "$CARRY/node_modules/webgpu/"
  xz -T2 -6 -c "$WEBGPU/dist/linux-x64/dawn.node" >"$CARRY/dawn.node.xz"
  xz -T2 -6 -c "$(readlink -f "$(command -v node)")" >"$CARRY/node.xz"
  cp "$ROOT/packages/backend-webgpu/scripts/device-bench.mjs" "$CARRY/"
  cp "$ROOT/benchmarks/src/ceilings/webgpu.mjs" "$CARRY/webgpu-ceilings.mjs"
  (cd "$CARRY/gl" && apt-get download libvulkan1 >/dev/null)
  du -sh "$CARRY"
  total=$(du -sm "$CARRY" | cut -f1)
  [ "$total" -le 60 ] || { echo "carry is ${total} MB: over the 64 MiB the device tool takes" >&2; exit 1; }
  echo "staged; now: run(command=\"bash benchmarks/device/run.sh device\", carry=[\".device-carry\"], timeout_s=540)"
  ;;
local | device)
  [ -f "$CARRY/device-bench.mjs" ] || { echo "no .device-carry: run 'bash benchmarks/device/run.sh prepare' here first" >&2; exit 1; }
  WORK="${TMPDIR:-/tmp}/ropekit-device"
  rm -rf "$WORK" && mkdir -p "$WORK/bin" "$WORK/xdg"
  cp -r "$CARRY/node_modules" "$CARRY/device-bench.mjs" "$CARRY/webgpu-ceilings.mjs" "$WORK/"
  mkdir -p "$WORK/node_modules/webgpu/dist/linux-x64"
  xz -dc "$CARRY/dawn.node.xz" >"$WORK/node_modules/webgpu/dist/linux-x64/dawn.node"
  xz -dc "$CARRY/node.xz" >"$WORK/bin/node" && chmod +x "$WORK/bin/node"
  export XDG_RUNTIME_DIR="$WORK/xdg"
  OUTDIR="${OUT:-$WORK}"
  if [ "$MODE" = device ]; then
    # The Vulkan loader: the device image may lack it (the device tool's notes); unpack the carried one.
    if ! ldconfig -p | grep -q libvulkan.so.1; then
      for f in "$CARRY"/gl/*.deb; do dpkg -x "$f" /; done
      ldconfig
    fi
    unset VK_ICD_FILENAMES
    ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -f "$ICD" ] || ICD="$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1 || true)"
    if [ -n "$ICD" ] && [ -f "$ICD" ]; then export VK_DRIVER_FILES="$ICD" VK_ICD_FILENAMES="$ICD"; fi
    export ROPEKIT_WEBGPU_NATIVE=1
    echo "== $(nvidia-smi -L 2>/dev/null || echo 'nvidia-smi: none') | ICD: ${ICD:-none found}"
    ARGS=(--json "$OUTDIR/device-bench.json")
  else
    export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
    ARGS=(--quick --allow-software --json "$OUTDIR/device-bench.json")
  fi
  echo "== node $("$WORK/bin/node" -v), dawn.node $(du -h "$WORK/node_modules/webgpu/dist/linux-x64/dawn.node" | cut -f1)"
  set +e
  (cd "$WORK" && timeout 500 ./bin/node device-bench.mjs "${ARGS[@]}") 2>&1 | tee "$OUTDIR/device-bench.log"
  rc=${PIPESTATUS[0]}
  set -e
  case $rc in
  0) echo "== OK: every check passed (log: $OUTDIR/device-bench.log)" ;;
  124) echo "== TIMED OUT after 500 s: the figures above are partial" ;;
  3) echo "== NO HARDWARE ADAPTER: Dawn found only a software/fallback adapter (Vulkan ICD above)" ;;
  *) echo "== FAILED (exit $rc): see the FAIL lines above" ;;
  esac
  exit "$rc"
  ;;
*)
  sed -n '2,19p' "$0"
  exit 2
  ;;
esac
