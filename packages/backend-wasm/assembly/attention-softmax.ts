// The online softmax over one key tile: each row's scores become weights, its running max and sum
// (and accumulators) are rescaled, and rows that f32 cannot compute are marked for the host's f64 repair.
import * as P from "../src/attention-layout";
import { BLOCK_K, REMOVED, f32At, fillRemoved, param, paramF } from "./attention-common";
import { expNeg, hmax, hsum } from "./simd";

/**
 * Scores of rows [0, rows) of the tile at keys c0 … c0 + cols − 1 → softmax weights in place. A removed
 * key (out of the row's causal / window bounds, masked, score −∞) gets weight −0 where the P·V pass must
 * skip it. f32 can go wrong where the f64 reference does not — finite q·k past the f32 range, a score
 * overflowing to −∞ (it would pass for masked), NaN or +∞ — and such a row is marked bad: it skips the
 * rest of the work and ends with lse NaN.
 */
// @ts-ignore: decorator
@inline
export function softmaxTile(
  p: usize,
  b: i32,
  c0: i32,
  rows: i32,
  cols: i32,
  scores: usize,
  rowI: usize,
  rowH: usize,
  rowBad: usize,
  rowMax: usize,
  rowSum: usize,
  acc: usize,
  dv: i32,
): void {
  const kvLen = param(p, P.KV_LEN);
  const qOffset = param(p, P.Q_OFFSET);
  const causal = param(p, P.CAUSAL) != 0;
  const window = param(p, P.WINDOW);
  const mask = <usize>param(p, P.MASK_PTR);
  const maskBool = param(p, P.MASK_BOOLEAN) != 0;
  const alibi = <usize>param(p, P.ALIBI_PTR);
  const softcap = paramF(p, P.SOFTCAP);
  const plain = mask == 0 && alibi == 0 && softcap == 0;
  const negInf = <f32>-Infinity;

  for (let r = 0; r < rows; r++) {
    const sr = scores + (<usize>(r * BLOCK_K) << 2);
    // This row's own bounds inside the tile; everything else −∞.
    const i = load<i32>(rowI + (<usize>r << 2));
    const h = load<i32>(rowH + (<usize>r << 2));
    let from = 0;
    let to = cols;
    if (causal) {
      const pos = qOffset + i;
      const rlo = window > 0 ? max(0, pos - window + 1) : 0;
      from = max(0, rlo - c0);
      to = min(cols, min(kvLen, pos + 1) - c0);
    }
    const bad = rowBad + (<usize>r << 2);
    if (from >= to || load<i32>(bad) != 0) {
      fillRemoved(sr);
      continue;
    }
    // Raw scores: their sum is finite only if each is (a finite sum that overflows only costs a
    // needless recompute). NaN, ±∞ here come from overflow or non-finite inputs.
    const raw = hsum(
      f32x4.add(
        f32x4.add(f32x4.add(v128.load(sr), v128.load(sr, 16)), f32x4.add(v128.load(sr, 32), v128.load(sr, 48))),
        f32x4.add(f32x4.add(v128.load(sr, 64), v128.load(sr, 80)), f32x4.add(v128.load(sr, 96), v128.load(sr, 112))),
      ),
    );
    if (!(Mathf.abs(raw) < <f32>Infinity)) {
      store<i32>(bad, 1);
      fillRemoved(sr);
      continue;
    }
    for (let c = 0; c < from; c++) store<f32>(f32At(sr, c), negInf);
    for (let c = to; c < BLOCK_K; c++) store<f32>(f32At(sr, c), negInf);
    if (!plain) {
      const pos = qOffset + i;
      const maskRow =
        b * param(p, P.MASK_STRIDE_BATCH) +
        h * param(p, P.MASK_STRIDE_HEAD) +
        i * param(p, P.MASK_STRIDE_QUERY) +
        c0;
      let overflow = false;
      for (let c = from; c < to; c++) {
        let s = load<f32>(f32At(sr, c));
        let removed = false;
        if (softcap != 0) s = softcap * Mathf.tanh(s / softcap);
        if (alibi) s += load<f32>(f32At(alibi, h)) * <f32>(c0 + c - pos);
        if (mask) {
          if (maskBool) {
            removed = load<u8>(mask + <usize>(maskRow + c)) == 0;
            if (removed) s = negInf;
          } else {
            const m = load<f32>(f32At(mask, maskRow + c));
            removed = m == negInf;
            s += m;
          }
        }
        // −∞ from adding finite values (a score near −f32max plus a mask): not a removed key.
        if (s == negInf && !removed) overflow = true;
        store<f32>(f32At(sr, c), s);
      }
      if (overflow) {
        store<i32>(bad, 1);
        fillRemoved(sr);
        continue;
      }
    }

    const w0 = v128.load(sr);
    const w1 = v128.load(sr, 16);
    const w2 = v128.load(sr, 32);
    const w3 = v128.load(sr, 48);
    const w4 = v128.load(sr, 64);
    const w5 = v128.load(sr, 80);
    const w6 = v128.load(sr, 96);
    const w7 = v128.load(sr, 112);
    const tileMax = hmax(
      f32x4.max(f32x4.max(f32x4.max(w0, w1), f32x4.max(w2, w3)), f32x4.max(f32x4.max(w4, w5), f32x4.max(w6, w7))),
    );
    if (tileMax == negInf) {
      fillRemoved(sr);
      continue;
    }
    // NaN or +∞ (a +∞ or NaN mask value, ALiBi overflow): the reference's answer is NaN or needs f64.
    if (!(tileMax < <f32>Infinity)) {
      store<i32>(bad, 1);
      fillRemoved(sr);
      continue;
    }
    const oldMax = load<f32>(f32At(rowMax, r));
    const newMax = max(oldMax, tileMax);
    if (newMax > oldMax && oldMax != negInf) {
      const correction = Mathf.exp(oldMax - newMax);
      store<f32>(f32At(rowSum, r), load<f32>(f32At(rowSum, r)) * correction);
      const ar = acc + (<usize>(r * dv) << 2);
      const vc = f32x4.splat(correction);
      let x = 0;
      for (; x + 4 <= dv; x += 4) v128.store(ar + (<usize>x << 2), f32x4.mul(v128.load(ar + (<usize>x << 2)), vc));
      for (; x < dv; x++) store<f32>(f32At(ar, x), load<f32>(f32At(ar, x)) * correction);
    }
    store<f32>(f32At(rowMax, r), newMax);
    const m = f32x4.splat(newMax);
    let p0 = expNeg(f32x4.sub(w0, m));
    let p1 = expNeg(f32x4.sub(w1, m));
    let p2 = expNeg(f32x4.sub(w2, m));
    let p3 = expNeg(f32x4.sub(w3, m));
    let p4 = expNeg(f32x4.sub(w4, m));
    let p5 = expNeg(f32x4.sub(w5, m));
    let p6 = expNeg(f32x4.sub(w6, m));
    let p7 = expNeg(f32x4.sub(w7, m));
    if ((rows & 1) != 0 && r == rows - 1) {
      // The odd last row takes the P·V path that skips removed keys: mark them (score −∞) with −0.
      const ni = f32x4.splat(negInf);
      p0 = v128.or(p0, v128.and(f32x4.eq(w0, ni), REMOVED));
      p1 = v128.or(p1, v128.and(f32x4.eq(w1, ni), REMOVED));
      p2 = v128.or(p2, v128.and(f32x4.eq(w2, ni), REMOVED));
      p3 = v128.or(p3, v128.and(f32x4.eq(w3, ni), REMOVED));
      p4 = v128.or(p4, v128.and(f32x4.eq(w4, ni), REMOVED));
      p5 = v128.or(p5, v128.and(f32x4.eq(w5, ni), REMOVED));
      p6 = v128.or(p6, v128.and(f32x4.eq(w6, ni), REMOVED));
      p7 = v128.or(p7, v128.and(f32x4.eq(w7, ni), REMOVED));
    }
    v128.store(sr, p0);
    v128.store(sr, p1, 16);
    v128.store(sr, p2, 32);
    v128.store(sr, p3, 48);
    v128.store(sr, p4, 64);
    v128.store(sr, p5, 80);
    v128.store(sr, p6, 96);
    v128.store(sr, p7, 112);
    const sum = f32x4.add(
      f32x4.add(f32x4.add(p0, p1), f32x4.add(p2, p3)),
      f32x4.add(f32x4.add(p4, p5), f32x4.add(p6, p7)),
    );
    store<f32>(f32At(rowSum, r), load<f32>(f32At(rowSum, r)) + hsum(sum));
  }
}
