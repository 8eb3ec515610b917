// Split-K decode (flash-decoding): few query rows against a long cache. A work unit is one key chunk of
// one (batch, kv head), with every query head of that kv head packed as its rows, so the chunk's K and V
// are streamed once for all of them. Each unit leaves its partial softmax state (max, sum, weighted V);
// attentionReduce then combines the chunks of every row in f32 with the right exponent shifts.
import * as P from "../src/attention-layout";
import { BLOCK_K, BLOCK_Q, f32At, nextUnit, param, paramF } from "./attention-common";
import { accumulatePV } from "./attention-pv";
import { softmaxTile } from "./attention-softmax";
import { storeRow } from "./attention-store";
import {
  foldQuery,
  foldWeights,
  pvFourRowsBf16,
  pvFourRowsF16,
  pvOneRowBf16,
  pvOneRowF16,
  scoresFourRowsBf16,
  scoresFourRowsF16,
  scoresOneRowBf16,
  scoresOneRowF16,
} from "./decode-half";
import { decodeScores } from "./decode-scores";
import { loadF32, stageRows } from "./half";
import { madd } from "./simd";

/**
 * acc += Σ_c w[c]·v[c] for one row: 32 channels (eight accumulators) per pass over the tile's keys. A
 * removed key's weight is ±0, so a finite v adds nothing; a NaN or ∞ there makes the output non-finite
 * and the host recomputes the row in f64, as it does for every such row.
 */
// @ts-ignore: decorator
@inline
function pvOneRow(sr: usize, ar: usize, vr: usize, vs: usize, cols: i32, dv: i32): void {
  let x = 0;
  for (; x + 32 <= dv; x += 32) {
    const ax = ar + (<usize>x << 2);
    let a0 = v128.load(ax);
    let a1 = v128.load(ax, 16);
    let a2 = v128.load(ax, 32);
    let a3 = v128.load(ax, 48);
    let a4 = v128.load(ax, 64);
    let a5 = v128.load(ax, 80);
    let a6 = v128.load(ax, 96);
    let a7 = v128.load(ax, 112);
    let row = vr + (<usize>x << 2);
    for (let c = 0; c < cols; c++, row += vs) {
      const w = f32x4.splat(load<f32>(f32At(sr, c)));
      a0 = madd(w, v128.load(row), a0);
      a1 = madd(w, v128.load(row, 16), a1);
      a2 = madd(w, v128.load(row, 32), a2);
      a3 = madd(w, v128.load(row, 48), a3);
      a4 = madd(w, v128.load(row, 64), a4);
      a5 = madd(w, v128.load(row, 80), a5);
      a6 = madd(w, v128.load(row, 96), a6);
      a7 = madd(w, v128.load(row, 112), a7);
    }
    v128.store(ax, a0);
    v128.store(ax, a1, 16);
    v128.store(ax, a2, 32);
    v128.store(ax, a3, 48);
    v128.store(ax, a4, 64);
    v128.store(ax, a5, 80);
    v128.store(ax, a6, 96);
    v128.store(ax, a7, 112);
  }
  for (; x + 4 <= dv; x += 4) {
    const ax = ar + (<usize>x << 2);
    let a = v128.load(ax);
    let row = vr + (<usize>x << 2);
    for (let c = 0; c < cols; c++, row += vs) {
      a = madd(f32x4.splat(load<f32>(f32At(sr, c))), v128.load(row), a);
    }
    v128.store(ax, a);
  }
  for (; x < dv; x++) {
    let a = load<f32>(f32At(ar, x));
    let row = vr + (<usize>x << 2);
    for (let c = 0; c < cols; c++, row += vs) a += load<f32>(f32At(sr, c)) * load<f32>(row);
    store<f32>(f32At(ar, x), a);
  }
}

/** MODE_DECODE: the partials of every unit this thread claims (scratch as the tiled kernel's). */
export function attentionDecode(p: usize): void {
  const qHeads = param(p, P.Q_HEADS);
  const kvHeads = param(p, P.KV_HEADS);
  const qLen = param(p, P.Q_LEN);
  const kvLen = param(p, P.KV_LEN);
  const d = param(p, P.HEAD_DIM);
  const dv = param(p, P.V_HEAD_DIM);
  const qOffset = param(p, P.Q_OFFSET);
  const causal = param(p, P.CAUSAL) != 0;
  const window = param(p, P.WINDOW);
  const q = <usize>param(p, P.Q_PTR);
  const k = <usize>param(p, P.K_PTR);
  const v = <usize>param(p, P.V_PTR);
  const scale = paramF(p, P.SCALE);
  const chunkKeys = param(p, P.CHUNK_KEYS);
  const chunks = param(p, P.CHUNKS);
  const partials = <usize>param(p, P.PARTIALS_PTR);

  const scratch = (<usize>param(p, P.SCRATCH_PTR) + 15) & ~(<usize>15);
  const qb = scratch + (<usize>(d * BLOCK_K) << 2);
  const scores = qb + (<usize>(BLOCK_Q * d) << 2);
  const acc = scores + (<usize>(BLOCK_Q * BLOCK_K) << 2);
  const rowMax = acc + (<usize>(BLOCK_Q * dv) << 2);
  const rowSum = rowMax + (<usize>BLOCK_Q << 2);
  const rowI = rowSum + (<usize>BLOCK_Q << 2);
  const rowH = rowI + (<usize>BLOCK_Q << 2);
  const rowBad = rowH + (<usize>BLOCK_Q << 2);
  const kTile = rowBad + (<usize>BLOCK_Q << 2); // a tile of half K / V as f32, as in the tiled kernel
  const vTile = kTile + (<usize>(BLOCK_K * d) << 2);
  const qDtype = param(p, P.Q_DTYPE);
  const kDtype = param(p, P.K_DTYPE);
  const vDtype = param(p, P.V_DTYPE);

  const group = qHeads / kvHeads;
  const rows = group * qLen;
  // One row (MHA decode), or four or eight (GQA: four query heads per kv head, or eight), reads half K / V
  // in place (decode-half.ts) instead of staging f32 tiles; other row counts take the staged path.
  const halfDims = (d & 7) == 0 && (dv & 7) == 0;
  const oneHalf = rows == 1 && halfDims;
  const fourHalf = (rows & 3) == 0 && halfDims;
  const units = param(p, P.BATCH) * kvHeads * chunks;
  const kStride = param(p, P.K_STRIDE_SEQ);
  const vStride = param(p, P.V_STRIDE_SEQ);
  const counter = <usize>param(p, P.WORK_COUNTER);
  let u = param(p, P.WORK_FIRST);
  if (counter != 0) u = nextUnit(counter);
  for (; u < units; u = counter != 0 ? nextUnit(counter) : u + param(p, P.WORK_STEP)) {
    const b = u / (kvHeads * chunks);
    const kh = (u / chunks) % kvHeads;
    const chunk = u % chunks;
    const kBase = b * param(p, P.K_STRIDE_BATCH) + kh * param(p, P.K_STRIDE_HEAD);
    const vBase = b * param(p, P.V_STRIDE_BATCH) + kh * param(p, P.V_STRIDE_HEAD);
    for (let r = 0; r < rows; r++) {
      const i = r / group;
      const h = kh * group + (r % group);
      store<i32>(rowI + (<usize>r << 2), i);
      store<i32>(rowH + (<usize>r << 2), h);
      store<f32>(f32At(rowMax, r), <f32>-Infinity);
      store<f32>(f32At(rowSum, r), 0);
      store<i32>(rowBad + (<usize>r << 2), 0);
      const qr = b * param(p, P.Q_STRIDE_BATCH) + h * param(p, P.Q_STRIDE_HEAD) + i * param(p, P.Q_STRIDE_SEQ);
      for (let x = 0; x < d; x++) store<f32>(f32At(qb, r * d + x), loadF32(q, qr + x, qDtype) * scale);
    }
    memory.fill(acc, 0, <usize>(rows * dv) << 2);
    // In-place f16 keys are scored against q·2^112 (decode-half.ts), kept in qb's unused rows after `rows`.
    const qFold = qb + (<usize>(rows * d) << 2);
    const kInPlace = (oneHalf || fourHalf) && (kDtype != P.DTYPE_F16 || foldQuery(qb, qFold, rows * d));

    // The chunk's keys that some row sees (the first row sees least far back, the last furthest on).
    let lo = chunk * chunkKeys;
    let hi = min(kvLen, lo + chunkKeys);
    if (causal) {
      if (window > 0) lo = max(lo, qOffset - window + 1);
      hi = min(hi, qOffset + qLen);
    }
    for (let c0 = lo; c0 < hi; c0 += BLOCK_K) {
      const cols = min(BLOCK_K, hi - c0);
      // The tile's V rows, which the scores loops touch ahead of the P·V pass (decode-half.ts's header).
      const vShift = vDtype == P.DTYPE_F32 ? 2 : 1;
      const vr = v + (<usize>(vBase + c0 * vStride) << vShift);
      const vs = <usize>vStride << vShift;
      const vBytes = <usize>dv << vShift;
      // Rows shorter than one 16-byte line are not touched (the last line's load would pass the row's end).
      const vt = vBytes >= 16 ? vr : 0;
      // Half K / V: the tile's rows converted to f32 first (SIMD), then read as f32 rows d (dv) apart.
      if (kDtype == P.DTYPE_F32) {
        decodeScores(qb, k + (<usize>(kBase + c0 * kStride) << 2), kStride, d, rows, cols, scores, vt, vs, vBytes);
      } else {
        let done = false;
        if (kInPlace) {
          const kr = k + (<usize>(kBase + c0 * kStride) << 1);
          const ks = <usize>kStride << 1;
          if (oneHalf) {
            if (kDtype == P.DTYPE_BF16) done = scoresOneRowBf16(qb, kr, ks, d, cols, scores, vr, vs, vBytes);
            else done = scoresOneRowF16(qFold, kr, ks, d, cols, scores, vr, vs, vBytes);
          } else {
            // Four rows per pass (the V rows touched by the first); the tile's keys stay in cache for more.
            done = true;
            for (let r = 0; r < rows && done; r += 4) {
              const sr = scores + (<usize>(r * BLOCK_K) << 2);
              const touch = r == 0 ? vt : 0;
              if (kDtype == P.DTYPE_BF16) {
                done = scoresFourRowsBf16(qb + (<usize>(r * d) << 2), kr, ks, d, cols, sr, touch, vs, vBytes);
              } else {
                const qr = qFold + (<usize>(r * d) << 2);
                done = scoresFourRowsF16(qr, kr, ks, d, cols, sr, touch, vs, vBytes);
              }
            }
          }
        }
        // Rows in no in-place shape, an f16 ±∞ / NaN in the tile, or a query past 2^16: the exact staged path.
        if (!done) {
          stageRows(k, kBase, kStride, c0, cols, d, kDtype, kTile);
          decodeScores(qb, kTile, d, d, rows, cols, scores, vt, vs, vBytes);
        }
      }
      softmaxTile(p, b, c0, rows, cols, scores, rowI, rowH, rowBad, rowMax, rowSum, acc, dv);
      // One row: half V read in place. An f16 ±∞ / NaN there marks the row for the host's f64 recompute.
      if (vDtype != P.DTYPE_F32 && oneHalf) {
        if (vDtype == P.DTYPE_BF16) pvOneRowBf16(scores, acc, vr, vs, cols, dv);
        else {
          foldWeights(scores);
          if (!pvOneRowF16(scores, acc, vr, vs, cols, dv)) store<i32>(rowBad, 1);
        }
        continue;
      }
      // Four rows per pass, likewise; an f16 ±∞ / NaN marks the pass's four rows.
      if (vDtype != P.DTYPE_F32 && fourHalf) {
        for (let r = 0; r < rows; r += 4) {
          const sr = scores + (<usize>(r * BLOCK_K) << 2);
          const ar = acc + (<usize>(r * dv) << 2);
          if (vDtype == P.DTYPE_BF16) pvFourRowsBf16(sr, ar, vr, vs, cols, dv);
          else {
            for (let j = 0; j < 4; j++) foldWeights(sr + (<usize>(j * BLOCK_K) << 2));
            if (!pvFourRowsF16(sr, ar, vr, vs, cols, dv)) {
              for (let j = 0; j < 4; j++) store<i32>(rowBad + (<usize>(r + j) << 2), 1);
            }
          }
        }
        continue;
      }
      let vp = v;
      let vb = vBase;
      let vst = vStride;
      if (vDtype != P.DTYPE_F32) {
        stageRows(v, vBase, vStride, c0, cols, dv, vDtype, vTile);
        vp = vTile;
        vb = -c0 * dv;
        vst = dv;
      }
      const pairs = rows & ~1;
      if (pairs > 0) accumulatePV(scores, acc, vp, vb, vst, c0, pairs, cols, dv);
      if (pairs < rows) {
        const vRow = vp + (<usize>(vb + c0 * vst) << 2);
        const sr = scores + (<usize>(pairs * BLOCK_K) << 2);
        pvOneRow(sr, acc + (<usize>(pairs * dv) << 2), vRow, <usize>vst << 2, cols, dv);
      }
    }

    // Partials: per row max, sum (NaN for a bad row), acc.
    const stride = dv + 2;
    const part = partials + (<usize>(u * rows * stride) << 2);
    for (let r = 0; r < rows; r++) {
      const pr = part + (<usize>(r * stride) << 2);
      const bad = load<i32>(rowBad + (<usize>r << 2)) != 0;
      store<f32>(pr, load<f32>(f32At(rowMax, r)));
      store<f32>(pr, bad ? <f32>NaN : load<f32>(f32At(rowSum, r)), 4);
      memory.copy(pr + 8, acc + (<usize>(r * dv) << 2), <usize>dv << 2);
    }
  }
}

/**
 * MODE_REDUCE: every row's chunks combined. With M the largest chunk max, a chunk weighs e^(m − M):
 * sum = Σ s·e^(m − M), output = Σ acc·e^(m − M) / sum, lse = M + ln(sum). One bad chunk makes the row bad.
 */
export function attentionReduce(p: usize): void {
  const qHeads = param(p, P.Q_HEADS);
  const kvHeads = param(p, P.KV_HEADS);
  const dv = param(p, P.V_HEAD_DIM);
  const chunks = param(p, P.CHUNKS);
  const partials = <usize>param(p, P.PARTIALS_PTR);
  const acc = (<usize>param(p, P.SCRATCH_PTR) + 15) & ~(<usize>15);
  const group = qHeads / kvHeads;
  const rows = group * param(p, P.Q_LEN);
  const stride = dv + 2;
  const pairs = param(p, P.BATCH) * kvHeads;
  for (let bk = 0; bk < pairs; bk++) {
    const b = bk / kvHeads;
    const kh = bk % kvHeads;
    for (let r = 0; r < rows; r++) {
      let m = <f32>-Infinity;
      let bad = false;
      for (let c = 0; c < chunks; c++) {
        const pr = partials + (<usize>(((bk * chunks + c) * rows + r) * stride) << 2);
        const s = load<f32>(pr, 4);
        if (s != s) bad = true;
        else if (s > 0) m = max(m, load<f32>(pr));
      }
      memory.fill(acc, 0, <usize>dv << 2);
      let sum: f32 = 0;
      for (let c = 0; c < chunks && !bad; c++) {
        const pr = partials + (<usize>(((bk * chunks + c) * rows + r) * stride) << 2);
        const s = load<f32>(pr, 4);
        if (!(s > 0)) continue;
        const w = Mathf.exp(load<f32>(pr) - m);
        sum += s * w;
        const wv = f32x4.splat(w);
        let x = 0;
        for (; x + 4 <= dv; x += 4) {
          const ax = acc + (<usize>x << 2);
          v128.store(ax, madd(wv, v128.load(pr + 8 + (<usize>x << 2)), v128.load(ax)));
        }
        for (; x < dv; x++) {
          store<f32>(f32At(acc, x), load<f32>(f32At(acc, x)) + w * load<f32>(pr + 8 + (<usize>x << 2)));
        }
      }
      storeRow(p, b, r / group, kh * group + (r % group), acc, sum, m, bad);
    }
  }
}
