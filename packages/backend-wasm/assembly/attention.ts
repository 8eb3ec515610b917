// Tiled attention with an online softmax. The parameter block's layout is src/attention-layout.ts; the
// pieces of one key tile are attention-scores.ts (q·k), attention-softmax.ts and attention-pv.ts (P·V).
import * as P from "../src/attention-layout";
import { BLOCK_K, BLOCK_Q, f32At, nextUnit, param, paramF } from "./attention-common";
import { attentionDecode, attentionReduce } from "./attention-decode";
import { storeRow } from "./attention-store";
import { accumulatePV } from "./attention-pv";
import { scoresFewRows, scoresTiled } from "./attention-scores";
import { softmaxTile } from "./attention-softmax";
import { loadF32, stageRows } from "./half";

export { BLOCK_K, BLOCK_Q } from "./attention-common";

/** Bytes of scratch one thread needs for head sizes d and dv. */
export function attentionScratchBytes(d: i32, dv: i32): i32 {
  // Then the f32 K and V tiles that half inputs are converted into, and one row of acc (decode, f16).
  return (d * BLOCK_K + BLOCK_Q * d + BLOCK_Q * BLOCK_K + BLOCK_Q * dv + 5 * BLOCK_Q + BLOCK_K * (d + dv) + dv) * 4 + 64;
}

/**
 * Attention over the work units this thread claims (a unit is one block of BLOCK_Q query rows of one
 * (batch, kv head)). Only the key tiles that causal / window bounds leave visible are visited. Scratch:
 * K tile transposed [d][BLOCK_K], q block [BLOCK_Q][d], scores [BLOCK_Q][BLOCK_K], accumulators
 * [BLOCK_Q][dv], and per row: max, sum, query index, query head, bad flag.
 *
 * The lse is the one signal to the host: −∞ means fully masked; NaN means "recompute this row in f64"
 * (a row f32 could not compute, or whose output is not finite), and the host does exactly that.
 */
export function attention(p: usize): void {
  const mode = param(p, P.MODE);
  if (mode == P.MODE_DECODE) return attentionDecode(p);
  if (mode == P.MODE_REDUCE) return attentionReduce(p);
  const batch = param(p, P.BATCH);
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
  const out = <usize>param(p, P.OUT_PTR);
  const lse = <usize>param(p, P.LSE_PTR);
  const scale = paramF(p, P.SCALE);

  const scratch = (<usize>param(p, P.SCRATCH_PTR) + 15) & ~(<usize>15);
  const kt = scratch;
  const qb = kt + (<usize>(d * BLOCK_K) << 2);
  const scores = qb + (<usize>(BLOCK_Q * d) << 2);
  const acc = scores + (<usize>(BLOCK_Q * BLOCK_K) << 2);
  const rowMax = acc + (<usize>(BLOCK_Q * dv) << 2);
  const rowSum = rowMax + (<usize>BLOCK_Q << 2);
  const rowI = rowSum + (<usize>BLOCK_Q << 2); // query index i of each packed row
  const rowH = rowI + (<usize>BLOCK_Q << 2); // query head h of each packed row
  const rowBad = rowH + (<usize>BLOCK_Q << 2); // 1: the row needs the host's f64 recompute
  const kTile = rowBad + (<usize>BLOCK_Q << 2); // K rows of a tile as f32 (half K only)
  const vTile = kTile + (<usize>(BLOCK_K * d) << 2); // V rows of a tile as f32 (half V only)
  const qDtype = param(p, P.Q_DTYPE);
  const kDtype = param(p, P.K_DTYPE);
  const vDtype = param(p, P.V_DTYPE);

  // Query heads that share a kv head are packed as rows of one block (row rr: position rr / group,
  // head kh·group + rr % group), so each K/V tile is loaded once for the whole group.
  const group = qHeads / kvHeads;
  const packed = group * qLen;
  const blocks = (packed + BLOCK_Q - 1) / BLOCK_Q;
  const units = batch * kvHeads * blocks;
  const negInf = <f32>-Infinity;
  const qStride = param(p, P.Q_STRIDE_SEQ);
  const kStride = param(p, P.K_STRIDE_SEQ);
  const vStride = param(p, P.V_STRIDE_SEQ);

  // Work units are claimed from a shared counter when there is one, so a faster thread simply takes more
  // of them; otherwise this thread takes first, first + step, ….
  const counter = <usize>param(p, P.WORK_COUNTER);
  let u = param(p, P.WORK_FIRST);
  if (counter != 0) u = nextUnit(counter);
  for (; u < units; u = counter != 0 ? nextUnit(counter) : u + param(p, P.WORK_STEP)) {
    const b = u / (kvHeads * blocks);
    const kh = (u / blocks) % kvHeads;
    const rr0 = (u % blocks) * BLOCK_Q;
    const rows = min(BLOCK_Q, packed - rr0);
    const kBase = b * param(p, P.K_STRIDE_BATCH) + kh * param(p, P.K_STRIDE_HEAD);
    const vBase = b * param(p, P.V_STRIDE_BATCH) + kh * param(p, P.V_STRIDE_HEAD);

    for (let r = 0; r < rows; r++) {
      const rr = rr0 + r;
      const i = rr / group;
      const h = kh * group + (rr % group);
      store<i32>(rowI + (<usize>r << 2), i);
      store<i32>(rowH + (<usize>r << 2), h);
      store<f32>(f32At(rowMax, r), negInf);
      store<f32>(f32At(rowSum, r), 0);
      store<i32>(rowBad + (<usize>r << 2), 0);
      // q rows of the block, pre-multiplied by the scale, contiguous.
      const qr = b * param(p, P.Q_STRIDE_BATCH) + h * param(p, P.Q_STRIDE_HEAD) + i * qStride;
      for (let x = 0; x < d; x++) store<f32>(f32At(qb, r * d + x), loadF32(q, qr + x, qDtype) * scale);
    }
    memory.fill(acc, 0, <usize>(rows * dv) << 2);

    // Visible keys of the block: rows further down see at least as far.
    let lo = 0;
    let hi = kvLen;
    if (causal) {
      const pFirst = qOffset + load<i32>(rowI);
      const pLast = qOffset + load<i32>(rowI + (<usize>(rows - 1) << 2));
      lo = window > 0 ? max(0, pFirst - window + 1) : 0;
      hi = max(lo, min(kvLen, pLast + 1));
    }

    for (let c0 = lo; c0 < hi; c0 += BLOCK_K) {
      const cols = min(BLOCK_K, hi - c0);
      // Half K / V: the tile's rows converted to f32 first, then read as f32 rows d (dv) apart.
      let kp = k;
      let kb = kBase;
      let ks = kStride;
      if (kDtype != P.DTYPE_F32) {
        stageRows(k, kBase, kStride, c0, cols, d, kDtype, kTile);
        kp = kTile;
        kb = -c0 * d;
        ks = d;
      }
      if (rows <= 4) scoresFewRows(qb, kp, kb, ks, c0, d, rows, cols, scores);
      else scoresTiled(qb, kt, kp, kb, ks, c0, d, rows, cols, scores);
      softmaxTile(p, b, c0, rows, cols, scores, rowI, rowH, rowBad, rowMax, rowSum, acc, dv);
      if (vDtype == P.DTYPE_F32) accumulatePV(scores, acc, v, vBase, vStride, c0, rows, cols, dv);
      else {
        stageRows(v, vBase, vStride, c0, cols, dv, vDtype, vTile);
        accumulatePV(scores, acc, vTile, -c0 * dv, dv, c0, rows, cols, dv);
      }
    }

    for (let r = 0; r < rows; r++) {
      const ar = acc + (<usize>(r * dv) << 2);
      const bad = load<i32>(rowBad + (<usize>r << 2)) != 0;
      const i = load<i32>(rowI + (<usize>r << 2));
      const h = load<i32>(rowH + (<usize>r << 2));
      storeRow(p, b, i, h, ar, load<f32>(f32At(rowSum, r)), load<f32>(f32At(rowMax, r)), bad);
    }
  }
}
