import {
  type KernelInterface,
  type ParamFields,
  type StorageBuffer,
  computeMain,
  kernelInterface,
} from "../context.js";
import { REMOVED, TAKES_PART } from "./attention-guard.js";
import { type GpuDtype, elementOf, halfLoaders, load } from "./half-wgsl.js";

/** The dtypes of q, k and v one kernel reads (each independently f32, float16 or bfloat16). */
export interface AttentionDtypes {
  readonly q: GpuDtype;
  readonly k: GpuDtype;
  readonly v: GpuDtype;
}

/** Every input f32: the kernels' original form. */
export const F32_INPUTS: AttentionDtypes = { q: "float32", k: "float32", v: "float32" };

/** Uniform parameters shared by the attention kernels. Strides are in elements. */
export const ATTENTION_FIELDS: ParamFields = {
  qLen: "u32",
  kvLen: "u32",
  qHeads: "u32",
  kvHeads: "u32",
  group: "u32",
  headDim: "u32",
  vHeadDim: "u32",
  rowsPerGroup: "u32",
  qsb: "u32",
  qss: "u32",
  qsh: "u32",
  ksb: "u32",
  kss: "u32",
  ksh: "u32",
  vsb: "u32",
  vss: "u32",
  vsh: "u32",
  osb: "u32",
  oss: "u32",
  osh: "u32",
  msb: "u32",
  msh: "u32",
  msq: "u32",
  hasMask: "u32",
  qOffset: "i32",
  causal: "u32",
  window: "u32",
  hasAlibi: "u32",
  scale: "f32",
  softcap: "f32",
  splitKeys: "u32",
  nSplits: "u32",
};

const f32 = (x: number) => x.toExponential(8);

/**
 * What every attention kernel reads: q, k, v (half ones as packed u32 words), the additive mask and the
 * ALiBi slopes.
 */
function inputs(dt: AttentionDtypes): readonly StorageBuffer[] {
  return [
    ["q", "read", elementOf(dt.q)],
    ["k", "read", elementOf(dt.k)],
    ["v", "read", elementOf(dt.v)],
    ["mask", "read"],
    ["slopes", "read"],
  ];
}
/** The flash kernels' bindings for inputs of `dt` (the bind group layout is the same for every dtype). */
function flashInterface(dt: AttentionDtypes): KernelInterface {
  return kernelInterface(ATTENTION_FIELDS, [...inputs(dt), ["out", "rw"], ["lse", "rw"]]);
}
/** Decode phase 1's bindings for inputs of `dt`. */
function decodeInterface(dt: AttentionDtypes): KernelInterface {
  return kernelInterface(ATTENTION_FIELDS, [...inputs(dt), ["partial", "rw"]]);
}
/** The flash kernels (prefill) write the output (f32; a half output is encoded after) and every row's lse. */
export const FLASH_INTERFACE = flashInterface(F32_INPUTS);
/** Decode phase 1 writes per (row, key chunk) partial max, sum and unnormalised output. */
export const DECODE_INTERFACE = decodeInterface(F32_INPUTS);
/** Decode phase 2 reduces the partials into the output and the lse. */
export const REDUCE_INTERFACE = kernelInterface(ATTENTION_FIELDS, [
  ["partial", "read"],
  ["out", "rw"],
  ["lse", "rw"],
]);

/** Bindings, constants and the score of one (row, key): scale, soft-cap, ALiBi, mask — the reference's order. */
function common(bindings: KernelInterface, dt: AttentionDtypes): string {
  return /* wgsl */ `
${bindings.wgsl}${halfLoaders([
  ["q", dt.q],
  ["k", dt.k],
  ["v", dt.v],
])}

const REMOVED: f32 = ${f32(REMOVED)};
const TAKES_PART: f32 = ${f32(TAKES_PART)};

// tanh accurate near 0 (Cephes' tanhf polynomial) and finite for every input (no exp overflow).
fn tanh_safe(y: f32) -> f32 {
  let a = abs(y);
  if (a < 0.625) {
    let z = y * y;
    return ((((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z
      + 1.33314422036e-1) * z - 3.33332819422e-1) * z * y + y;
  }
  let e = exp(2.0 * min(a, 20.0));
  let t = 1.0 - 2.0 / (e + 1.0);
  return select(t, -t, y < 0.0);
}

// Keys [lo, hi) that the causal and window bounds leave to query index i (core's visibleKeys).
fn row_range(i: u32) -> vec2u {
  if (P.causal == 0u) { return vec2u(0u, P.kvLen); }
  let p = P.qOffset + i32(i);
  let hi = u32(clamp(p + 1, 0, i32(P.kvLen)));
  var lo = 0u;
  if (P.window > 0u) { lo = u32(clamp(p - i32(P.window) + 1, 0, i32(hi))); }
  return vec2u(lo, hi);
}

fn score(dot: f32, b: u32, h: u32, i: u32, j: u32) -> f32 {
  var s = dot * P.scale;
  if (P.softcap > 0.0) { s = P.softcap * tanh_safe(s / P.softcap); }
  if (P.hasAlibi != 0u) { s += slopes[h] * f32(i32(j) - (P.qOffset + i32(i))); }
  if (P.hasMask != 0u) {
    let m = mask[b * P.msb + h * P.msh + i * P.msq + j];
    if (m <= TAKES_PART) { return REMOVED; }
    s += m;
  }
  return s;
}
`;
}

/**
 * The row a flash invocation owns: workgroup (block, b·kvHeads + kvh) holds `br` consecutive rows of one
 * (batch, kv head) — the query heads of its GQA group one after another — and invocation `lid` row r0 + lid
 * (clamped; `valid` says whether it is real), query head h, query index i and its visible key range.
 */
function flashRow(br: number): string {
  return /* wgsl */ `  let block = wg.z * nwg.x + wg.x;
  let b = wg.y / P.kvHeads;
  let kvh = wg.y - b * P.kvHeads;
  let r0 = block * ${br}u;
  let r = r0 + lid;
  let valid = r < P.rowsPerGroup;
  let rr = min(r, P.rowsPerGroup - 1u);
  let hl = rr / P.qLen;
  let h = kvh * P.group + hl;
  let i = rr - hl * P.qLen;
  let range = row_range(i);`;
}

/** Shapes a flash kernel is specialised for. */
export interface FlashShape {
  /** Query rows per workgroup (one per invocation). */
  readonly br: number;
  /** Keys per tile in workgroup memory. */
  readonly bc: number;
  /** Private q and accumulator sizes (powers of two ≥ headDim, vHeadDim). */
  readonly dp: number;
  readonly dvp: number;
}

/**
 * Prefill: a workgroup owns `br` consecutive query rows of one (batch, kv head) — the query heads of a
 * GQA group one after another, so they share every K/V tile — and walks the keys in tiles of `bc`
 * staged in workgroup memory, only over the band its rows can see (tiles outside the causal/window band
 * are never loaded). Online softmax in f32 per row; the row's lse always written.
 */
export function flashWgsl({ br, bc, dp, dvp }: FlashShape, dt: AttentionDtypes = F32_INPUTS): string {
  return /* wgsl */ `
${common(flashInterface(dt), dt)}

var<workgroup> kt: array<f32, ${bc * dp}>;
var<workgroup> vt: array<f32, ${bc * dvp}>;

${computeMain(br)}
${flashRow(br)}

  // The band of keys any row of this workgroup sees (uniform: from workgroup_id and uniforms only).
  let rLast = min(r0 + ${br}u, P.rowsPerGroup) - 1u;
  var iMin = r0 % P.qLen;
  var iMax = rLast % P.qLen;
  if (r0 / P.qLen != rLast / P.qLen) { iMin = 0u; iMax = P.qLen - 1u; }
  let wlo = row_range(iMin).x;
  let whi = row_range(iMax).y;

  var qv: array<f32, ${dp}>;
  let qo = b * P.qsb + i * P.qss + h * P.qsh;
  for (var d = 0u; d < P.headDim; d++) { qv[d] = ${load("q", dt.q, "qo + d")}; }
  var acc: array<f32, ${dvp}>;
  var m = REMOVED;
  var l = 0.0;
  let ko = b * P.ksb + kvh * P.ksh;
  let vo = b * P.vsb + kvh * P.vsh;

  for (var t0 = wlo; t0 < whi; t0 += ${bc}u) {
    let n = min(${bc}u, whi - t0);
    workgroupBarrier();
    for (var e = lid; e < n * P.headDim; e += ${br}u) {
      let jj = e / P.headDim;
      let d = e - jj * P.headDim;
      kt[jj * ${dp}u + d] = ${load("k", dt.k, "ko + (t0 + jj) * P.kss + d")};
    }
    for (var e = lid; e < n * P.vHeadDim; e += ${br}u) {
      let jj = e / P.vHeadDim;
      let d = e - jj * P.vHeadDim;
      vt[jj * ${dvp}u + d] = ${load("v", dt.v, "vo + (t0 + jj) * P.vss + d")};
    }
    workgroupBarrier();
    if (valid) {
      var sc: array<f32, ${bc}>;
      var tmax = REMOVED;
      for (var jj = 0u; jj < n; jj++) {
        let j = t0 + jj;
        var s = REMOVED;
        if (j >= range.x && j < range.y) {
          var dot = 0.0;
          for (var d = 0u; d < P.headDim; d++) { dot += qv[d] * kt[jj * ${dp}u + d]; }
          s = score(dot, b, h, i, j);
        }
        sc[jj] = s;
        tmax = max(tmax, s);
      }
      if (tmax > TAKES_PART) {
        let mNew = max(m, tmax);
        let alpha = exp(m - mNew);
        l = l * alpha;
        for (var c = 0u; c < P.vHeadDim; c++) { acc[c] = acc[c] * alpha; }
        for (var jj = 0u; jj < n; jj++) {
          if (sc[jj] > TAKES_PART) {
            let p = exp(sc[jj] - mNew);
            l += p;
            for (var c = 0u; c < P.vHeadDim; c++) { acc[c] += p * vt[jj * ${dvp}u + c]; }
          }
        }
        m = mNew;
      }
    }
  }
  if (valid) {
    let oo = b * P.osb + i * P.oss + h * P.osh;
    let lr = (b * P.qHeads + h) * P.qLen + i;
    if (l > 0.0) {
      let inv = 1.0 / l;
      for (var c = 0u; c < P.vHeadDim; c++) { out[oo + c] = acc[c] * inv; }
      lse[lr] = m + log(l);
    } else {
      for (var c = 0u; c < P.vHeadDim; c++) { out[oo + c] = 0.0; }
      lse[lr] = REMOVED;
    }
  }
}
`;
}

/** Shapes a split-K decode kernel is specialised for. */
export interface DecodeShape {
  /** Query rows per (batch, kv head) handled together (power of two ≥ group·qLen). */
  readonly rp: number;
  /** Keys per split (a multiple of 64). */
  readonly cp: number;
  readonly dp: number;
  readonly dvp: number;
}

const DECODE_WG = 64;

/**
 * Decode, phase 1 (flash-decoding): a workgroup owns one chunk of `cp` keys of one (batch, kv head) and
 * every query row of that head's group (few: decode has qLen 1…a few). Scores of all rows against the
 * chunk go to workgroup memory (each invocation reads its keys once for all rows), then each row's max
 * and sum, then every invocation accumulates its channels for all rows. Writes per (row, chunk) the
 * partial max, sum and unnormalised output; phase 2 reduces over chunks. So one token keeps as many
 * workgroups busy as the cache has chunks.
 */
export function decodeWgsl({ rp, cp, dp }: DecodeShape, dt: AttentionDtypes = F32_INPUTS): string {
  const kpt = cp / DECODE_WG;
  return /* wgsl */ `
${common(decodeInterface(dt), dt)}

var<workgroup> qs: array<f32, ${rp * dp}>;
var<workgroup> S: array<f32, ${rp * cp}>;
var<workgroup> rowM: array<f32, ${rp}>;
var<workgroup> rowL: array<f32, ${rp}>;

${computeMain(DECODE_WG)}
  let split = wg.z * nwg.x + wg.x;
  let b = wg.y / P.kvHeads;
  let kvh = wg.y - b * P.kvHeads;
  let R = P.rowsPerGroup;
  let j0 = split * P.splitKeys;
  let j1 = min(j0 + P.splitKeys, P.kvLen);
  for (var e = lid; e < R * P.headDim; e += ${DECODE_WG}u) {
    let r = e / P.headDim;
    let d = e - r * P.headDim;
    let hl = r / P.qLen;
    let i = r - hl * P.qLen;
    qs[r * ${dp}u + d] = ${load("q", dt.q, "b * P.qsb + i * P.qss + (kvh * P.group + hl) * P.qsh + d")};
  }
  workgroupBarrier();
  let ko = b * P.ksb + kvh * P.ksh;
  for (var t = 0u; t < ${kpt}u; t++) {
    let jj = lid + t * ${DECODE_WG}u;
    let j = j0 + jj;
    if (j < j1) {
      var dots: array<f32, ${rp}>;
      for (var r = 0u; r < ${rp}u; r++) { dots[r] = 0.0; }
      for (var d = 0u; d < P.headDim; d++) {
        let kd = ${load("k", dt.k, "ko + j * P.kss + d")};
        for (var r = 0u; r < R; r++) { dots[r] += qs[r * ${dp}u + d] * kd; }
      }
      for (var r = 0u; r < R; r++) {
        let hl = r / P.qLen;
        let i = r - hl * P.qLen;
        let range = row_range(i);
        var s = REMOVED;
        if (j >= range.x && j < range.y) { s = score(dots[r], b, kvh * P.group + hl, i, j); }
        S[r * ${cp}u + jj] = s;
      }
    } else {
      for (var r = 0u; r < R; r++) { S[r * ${cp}u + jj] = REMOVED; }
    }
  }
  workgroupBarrier();
  if (lid < R) {
    let r = lid;
    var m = REMOVED;
    for (var jj = 0u; jj < ${cp}u; jj++) { m = max(m, S[r * ${cp}u + jj]); }
    var l = 0.0;
    if (m > TAKES_PART) {
      for (var jj = 0u; jj < ${cp}u; jj++) {
        let s = S[r * ${cp}u + jj];
        var p = 0.0;
        if (s > TAKES_PART) { p = exp(s - m); }
        S[r * ${cp}u + jj] = p;
        l += p;
      }
    } else {
      for (var jj = 0u; jj < ${cp}u; jj++) { S[r * ${cp}u + jj] = 0.0; }
    }
    rowM[r] = m;
    rowL[r] = l;
  }
  workgroupBarrier();
  let stride = P.vHeadDim + 2u;
  let first = (wg.y * R) * P.nSplits + split;
  let vo = b * P.vsb + kvh * P.vsh;
  let n = j1 - min(j0, j1);
  for (var c = lid; c < P.vHeadDim; c += ${DECODE_WG}u) {
    // Zeroed explicitly: a var declared in a loop body is not reliably re-zeroed per iteration everywhere.
    var acc: array<f32, ${rp}>;
    for (var r = 0u; r < ${rp}u; r++) { acc[r] = 0.0; }
    for (var jj = 0u; jj < n; jj++) {
      let x = ${load("v", dt.v, "vo + (j0 + jj) * P.vss + c")};
      for (var r = 0u; r < R; r++) { acc[r] += S[r * ${cp}u + jj] * x; }
    }
    for (var r = 0u; r < R; r++) { partial[(first + r * P.nSplits) * stride + c] = acc[r]; }
  }
  if (lid < R) {
    let at = (first + lid * P.nSplits) * stride + P.vHeadDim;
    partial[at] = rowM[lid];
    partial[at + 1u] = rowL[lid];
  }
}
`;
}

/**
 * Decode, phase 2: one workgroup per query row combines the row's partials over every key chunk (max,
 * rescaled sums), writes the output in q's layout and the lse.
 */
export function reduceWgsl(): string {
  return /* wgsl */ `
${REDUCE_INTERFACE.wgsl}

const TAKES_PART: f32 = ${f32(TAKES_PART)};
const REMOVED: f32 = ${f32(REMOVED)};

${computeMain(DECODE_WG)}
  let gr = wg.z * nwg.x + wg.x;
  let bk = gr / P.rowsPerGroup;
  let r = gr - bk * P.rowsPerGroup;
  let b = bk / P.kvHeads;
  let kvh = bk - b * P.kvHeads;
  let hl = r / P.qLen;
  let i = r - hl * P.qLen;
  let h = kvh * P.group + hl;
  let stride = P.vHeadDim + 2u;
  let first = gr * P.nSplits;
  var M = REMOVED;
  for (var s = 0u; s < P.nSplits; s++) { M = max(M, partial[(first + s) * stride + P.vHeadDim]); }
  var L = 0.0;
  if (M > TAKES_PART) {
    for (var s = 0u; s < P.nSplits; s++) {
      let at = (first + s) * stride + P.vHeadDim;
      L += partial[at + 1u] * exp(partial[at] - M);
    }
  }
  let oo = b * P.osb + i * P.oss + h * P.osh;
  for (var c = lid; c < P.vHeadDim; c += ${DECODE_WG}u) {
    var acc = 0.0;
    if (L > 0.0) {
      for (var s = 0u; s < P.nSplits; s++) {
        let at = (first + s) * stride;
        acc += partial[at + c] * exp(partial[at + P.vHeadDim] - M);
      }
      acc = acc / L;
    }
    out[oo + c] = acc;
  }
  if (lid == 0u) {
    var x = REMOVED;
    if (L > 0.0) { x = M + log(L); }
    lse[(b * P.qHeads + h) * P.qLen + i] = x;
  }
}
`;
}

/** Shapes and options a register-tiled flash kernel is specialised for. */
export interface FlashRegShape {
  /** Query rows per workgroup (one per invocation). */
  readonly br: number;
  /** Keys per tile; the tile loop is unrolled over them. */
  readonly bc: number;
  /** headDim and vHeadDim in vec4s (rounded up; the padding lanes are zero). */
  readonly d4: number;
  readonly dv4: number;
  /** Score terms compiled in (absent ones cost nothing). */
  readonly mask: boolean;
  readonly softcap: boolean;
  readonly alibi: boolean;
}

/**
 * Prefill with every loop over keys and channels unrolled at generation time: q and the output
 * accumulator live in named vec4 registers, K/V tiles sit in workgroup memory and are read at constant
 * indices (one broadcast load serves every invocation), and the score options are compiled in or out.
 * Software rasterisers (SwiftShader, lavapipe) turn dynamically indexed private arrays and dynamically
 * addressed workgroup loads into per-lane memory traffic; this form has neither. Same contract as
 * `flashWgsl`: a workgroup owns `br` rows of one (batch, kv head), tiles outside its band are skipped,
 * online softmax in f32, lse always written.
 */
export function flashRegWgsl(
  { br, bc, d4, dv4, mask, softcap, alibi }: FlashRegShape,
  dt: AttentionDtypes = F32_INPUTS,
): string {
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const qRegs = range(d4).map((c) => `q${c}`);
  const aRegs = range(dv4).map((c) => `a${c}`);
  const loadVec4 = (buf: "q" | "k" | "v", base: string, c: number, dim: string) =>
    `vec4f(${range(4)
      .map((x) => `select(0.0, ${load(buf, dt[buf], `${base} + ${4 * c + x}u`)}, ${4 * c + x}u < ${dim})`)
      .join(", ")})`;
  const scoreLines = range(bc)
    .map((jj) => {
      const dot = range(d4)
        .map((c) => `dot(${qRegs[c]}, kt[${jj * d4 + c}])`)
        .join(" + ");
      const lines = [`    var s${jj} = (${dot}) * P.scale;`];
      if (softcap) lines.push(`    s${jj} = P.softcap * tanh_safe(s${jj} / P.softcap);`);
      if (alibi) lines.push(`    s${jj} += slope * f32(i32(t0 + ${jj}u) - pos);`);
      if (mask) {
        lines.push(
          `    let mk${jj} = mask[min(mrow + t0 + ${jj}u, mlast)];`,
          `    s${jj} = select(s${jj} + mk${jj}, REMOVED, mk${jj} <= TAKES_PART);`,
        );
      }
      lines.push(`    s${jj} = select(REMOVED, s${jj}, t0 + ${jj}u >= lo && t0 + ${jj}u < hi);`);
      return lines.join("\n");
    })
    .join("\n");
  const tmax = range(bc).reduce((acc, jj) => (acc ? `max(${acc}, s${jj})` : `s${jj}`), "");
  const probs = range(bc)
    .map((jj) => `      let p${jj} = select(0.0, exp(s${jj} - mNew), s${jj} > TAKES_PART);`)
    .join("\n");
  const lsum = range(bc)
    .map((jj) => `p${jj}`)
    .join(" + ");
  const pv = range(dv4)
    .map(
      (c) =>
        `      ${aRegs[c]} = ${aRegs[c]} * alpha + ${range(bc)
          .map((jj) => `p${jj} * vt[${jj * dv4 + c}]`)
          .join(" + ")};`,
    )
    .join("\n");
  // The workgroup copies the tile's n keys (zeros past them) of `buf` into `tile`, vec4 by vec4.
  const stageTile = (
    tile: string,
    buf: "k" | "v",
    base: string,
    stride: string,
    vec4s: number,
    dim: string,
  ) =>
    `    for (var e = lid; e < ${bc * vec4s}u; e += ${br}u) {
      let jj = e / ${vec4s}u;
      let c = e - jj * ${vec4s}u;
      var x = vec4f(0.0);
      if (jj < n) {
        let at = ${base} + (t0 + jj) * ${stride} + 4u * c;
        x = ${loadVec4(buf, "at", 0, `${dim} - 4u * c`)};
      }
      ${tile}[e] = x;
    }`;
  return /* wgsl */ `
${common(flashInterface(dt), dt)}

var<workgroup> kt: array<vec4f, ${bc * d4}>;
var<workgroup> vt: array<vec4f, ${bc * dv4}>;

${computeMain(br)}
${flashRow(br)}
  let lo = range.x;
  let hi = range.y;
  let pos = P.qOffset + i32(i);
  let slope = ${alibi ? "slopes[h]" : "0.0"};
  let mrow = b * P.msb + h * P.msh + i * P.msq;
  let mlast = arrayLength(&mask) - 1u;

  let rLast = min(r0 + ${br}u, P.rowsPerGroup) - 1u;
  var iMin = r0 % P.qLen;
  var iMax = rLast % P.qLen;
  if (r0 / P.qLen != rLast / P.qLen) { iMin = 0u; iMax = P.qLen - 1u; }
  let wlo = row_range(iMin).x;
  let whi = row_range(iMax).y;

  let qo = b * P.qsb + i * P.qss + h * P.qsh;
${range(d4)
  .map((c) => `  let ${qRegs[c]} = ${loadVec4("q", "qo", c, "P.headDim")};`)
  .join("\n")}
${aRegs.map((a) => `  var ${a} = vec4f(0.0);`).join("\n")}
  var m = REMOVED;
  var l = 0.0;
  let ko = b * P.ksb + kvh * P.ksh;
  let vo = b * P.vsb + kvh * P.vsh;

  for (var t0 = wlo; t0 < whi; t0 += ${bc}u) {
    let n = min(${bc}u, whi - t0);
    workgroupBarrier();
${stageTile("kt", "k", "ko", "P.kss", d4, "P.headDim")}
${stageTile("vt", "v", "vo", "P.vss", dv4, "P.vHeadDim")}
    workgroupBarrier();
${scoreLines}
    let tmax = ${tmax};
    if (tmax > TAKES_PART) {
      let mNew = max(m, tmax);
      let alpha = exp(m - mNew);
${probs}
      l = l * alpha + (${lsum});
${pv}
      m = mNew;
    }
  }
  if (valid) {
    let oo = b * P.osb + i * P.oss + h * P.osh;
    let lr = (b * P.qHeads + h) * P.qLen + i;
    var inv = 0.0;
    if (l > 0.0) {
      inv = 1.0 / l;
      lse[lr] = m + log(l);
    } else {
      lse[lr] = REMOVED;
    }
${range(dv4)
  .map((c) =>
    range(4)
      .map(
        (x) => `    if (${4 * c + x}u < P.vHeadDim) { out[oo + ${4 * c + x}u] = ${aRegs[c]}[${x}] * inv; }`,
      )
      .join("\n"),
  )
  .join("\n")}
  }
}
`;
}

/** Shapes and options a lane-blocked flash kernel is specialised for. */
export interface FlashLanesShape {
  /** Invocations per workgroup. */
  readonly wg: number;
  /** vec4 row groups per invocation: each invocation owns 4·rv query rows. */
  readonly rv: number;
  /** Keys per online-softmax step (unrolled). */
  readonly kb: number;
  /** headDim and vHeadDim, exactly (every channel loop is unrolled). */
  readonly d: number;
  readonly dv: number;
  readonly mask: boolean;
  readonly softcap: boolean;
  readonly alibi: boolean;
}

/**
 * Prefill for CPU-emulated GPUs (SwiftShader and the like). Measured there: workgroup memory reads and
 * barriers are an order of magnitude dearer than arithmetic, dynamically indexed private arrays spill
 * per lane, and a storage load all lanes share is cheap. So this kernel has no workgroup memory and no
 * barrier: each invocation owns 4·rv query rows held transposed in vec4 registers (component = row), and
 * every k or v element it loads (one address for all lanes) feeds rv vec4 multiply-adds. Channel and key
 * loops are unrolled at generation time (constant register names), the score options compiled in or out;
 * online softmax in f32 per block of `kb` keys. Same results contract as `flashWgsl`, lse always written.
 */
export function flashLanesWgsl(
  { wg, rv, kb, d, dv, mask, softcap, alibi }: FlashLanesShape,
  dt: AttentionDtypes = F32_INPUTS,
): string {
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const R = 4 * rv;
  const U = range(rv);
  const perRow = range(R)
    .map(
      (g) => `  let rr${g} = min(rBase + ${g}u, P.rowsPerGroup - 1u);
  let hl${g} = rr${g} / P.qLen;
  let h${g} = kvh * P.group + hl${g};
  let i${g} = rr${g} - hl${g} * P.qLen;
  let band${g} = row_range(i${g});
  let qo${g} = b * P.qsb + i${g} * P.qss + h${g} * P.qsh;`,
    )
    .join("\n");
  const vec = (f: (g: number) => string, u: number, type = "vec4f") =>
    `${type}(${range(4)
      .map((x) => f(4 * u + x))
      .join(", ")})`;
  const rowVecs = U.map(
    (u) => `  let lo${u} = ${vec((g) => `band${g}.x`, u, "vec4u")};
  let hi${u} = ${vec((g) => `band${g}.y`, u, "vec4u")};${
    alibi
      ? `
  let slope${u} = ${vec((g) => `slopes[h${g}]`, u)};
  let pos${u} = ${vec((g) => `P.qOffset + i32(i${g})`, u, "vec4i")};`
      : ""
  }${
    mask
      ? `
  let mrow${u} = ${vec((g) => `b * P.msb + h${g} * P.msh + i${g} * P.msq`, u, "vec4u")};`
      : ""
  }`,
  ).join("\n");
  const qLoads = range(d)
    .map((c) =>
      U.map((u) => `  let q${c}_${u} = ${vec((g) => load("q", dt.q, `qo${g} + ${c}u`), u)};`).join("\n"),
    )
    .join("\n");
  const accDecl = range(dv)
    .map((c) => U.map((u) => `var a${c}_${u} = vec4f(0.0);`).join(" "))
    .map((line) => `  ${line}`)
    .join("\n");
  const keyBlock = range(kb)
    .map((x) => {
      const lines = [`    let j${x} = j + ${x}u;`, `    let kr${x} = ko + min(j${x}, P.kvLen - 1u) * P.kss;`];
      for (const u of U) lines.push(`    var s${x}_${u} = vec4f(0.0);`);
      for (let c = 0; c < d; c++) {
        lines.push(
          `    { let kk = ${load("k", dt.k, `kr${x} + ${c}u`)}; ${U.map((u) => `s${x}_${u} += q${c}_${u} * kk;`).join(" ")} }`,
        );
      }
      for (const u of U) {
        const s = `s${x}_${u}`;
        lines.push(`    ${s} = ${s} * P.scale;`);
        if (softcap) lines.push(`    ${s} = P.softcap * tanh4(${s} / P.softcap);`);
        if (alibi) lines.push(`    ${s} += slope${u} * vec4f(vec4i(i32(j${x})) - pos${u});`);
        if (mask) {
          lines.push(
            `    { let mk = ${vec((g) => `mask[min(mrow${u}[${g % 4}] + j${x}, mlast)]`, u)};`,
            `      ${s} = select(${s} + mk, vec4f(REMOVED), mk <= vec4f(TAKES_PART)); }`,
          );
        }
        lines.push(
          `    ${s} = select(vec4f(REMOVED), ${s}, (vec4u(j${x}) >= lo${u}) & (vec4u(j${x}) < hi${u}));`,
        );
      }
      return lines.join("\n");
    })
    .join("\n");
  const softmax = U.map((u) => {
    const tmax = range(kb).reduce((acc, x) => (acc ? `max(${acc}, s${x}_${u})` : `s${x}_${u}`), "");
    return `    let mNew${u} = max(m${u}, ${tmax});
    let alpha${u} = exp(m${u} - mNew${u});
${range(kb)
  .map(
    (x) =>
      `    let p${x}_${u} = select(vec4f(0.0), exp(s${x}_${u} - mNew${u}), s${x}_${u} > vec4f(TAKES_PART));`,
  )
  .join("\n")}
    l${u} = l${u} * alpha${u} + ${range(kb)
      .map((x) => `p${x}_${u}`)
      .join(" + ")};
    m${u} = mNew${u};`;
  }).join("\n");
  const pv = [
    ...range(kb).map((x) => `    let vr${x} = vo + min(j${x}, P.kvLen - 1u) * P.vss;`),
    ...range(dv).map(
      (c) =>
        `    { ${range(kb)
          .map((x) => `let v${x} = ${load("v", dt.v, `vr${x} + ${c}u`)};`)
          .join(" ")} ${U.map(
          (u) =>
            `a${c}_${u} = a${c}_${u} * alpha${u} + ${range(kb)
              .map((x) => `p${x}_${u} * v${x}`)
              .join(" + ")};`,
        ).join(" ")} }`,
    ),
  ].join("\n");
  const writes = range(R)
    .map((g) => {
      const u = Math.floor(g / 4);
      const x = g % 4;
      return `  if (rBase + ${g}u < P.rowsPerGroup) {
    let oo = b * P.osb + i${g} * P.oss + h${g} * P.osh;
    let lr = (b * P.qHeads + h${g}) * P.qLen + i${g};
    let lg = l${u}[${x}];
    var inv = 0.0;
    if (lg > 0.0) { inv = 1.0 / lg; lse[lr] = m${u}[${x}] + log(lg); } else { lse[lr] = REMOVED; }
${range(dv)
  .map((c) => `    out[oo + ${c}u] = a${c}_${u}[${x}] * inv;`)
  .join("\n")}
  }`;
    })
    .join("\n");
  const code = /* wgsl */ `
${common(flashInterface(dt), dt)}

// tanh_safe on four lanes, branch-free (the same two formulas, selected per component).
fn tanh4(y: vec4f) -> vec4f {
  let a = abs(y);
  let z = y * y;
  let small = ((((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z
    + 1.33314422036e-1) * z - 3.33332819422e-1) * z * y + y;
  let e = exp(2.0 * min(a, vec4f(20.0)));
  let t = 1.0 - 2.0 / (e + 1.0);
  return select(select(t, -t, y < vec4f(0.0)), small, a < vec4f(0.625));
}

${computeMain(wg)}
  let block = wg.z * nwg.x + wg.x;
  let b = wg.y / P.kvHeads;
  let kvh = wg.y - b * P.kvHeads;
  let rBase = (block * ${wg}u + lid) * ${R}u;
  if (rBase >= P.rowsPerGroup) { return; }
  let mlast = arrayLength(&mask) - 1u;
${perRow}
${rowVecs}
  // Keys any of this invocation's rows sees (rows may span query heads: then their union).
  var jlo = band0.x;
  var jhi = band0.y;
${range(R - 1)
  .map((g) => `  jlo = min(jlo, band${g + 1}.x); jhi = max(jhi, band${g + 1}.y);`)
  .join("\n")}
${qLoads}
${accDecl}
${U.map((u) => `  var m${u} = vec4f(REMOVED);\n  var l${u} = vec4f(0.0);`).join("\n")}
  let ko = b * P.ksb + kvh * P.ksh;
  let vo = b * P.vsb + kvh * P.vsh;
  for (var j = jlo; j < jhi; j += ${kb}u) {
${keyBlock}
${softmax}
${pv}
  }
${writes}
}
`;
  return code;
}
