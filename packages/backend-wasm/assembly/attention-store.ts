// The end of one query row: its normalised output and its lse, written where the host reads them.
import * as P from "../src/attention-layout";
import { f32At, param } from "./attention-common";
import { storeF32 } from "./half";

/**
 * Writes acc · (1 / sum) as the row's output (in OUT_DTYPE, rounded to nearest even) and max + ln(sum) as its lse. A row that saw no key stays
 * zero (lse −∞). A bad row, or one whose output is not finite (v near the f32 limit, NaN or ∞ in v),
 * gets lse NaN: the host looks at the lse alone and recomputes such rows in f64.
 */
export function storeRow(p: usize, b: i32, i: i32, h: i32, acc: usize, sum: f32, rowMax: f32, bad: bool): void {
  const dv = param(p, P.V_HEAD_DIM);
  const out = <usize>param(p, P.OUT_PTR);
  const lse = <usize>param(p, P.LSE_PTR);
  const o = b * param(p, P.OUT_STRIDE_BATCH) + i * param(p, P.OUT_STRIDE_SEQ) + h * param(p, P.OUT_STRIDE_HEAD);
  const dtype = param(p, P.OUT_DTYPE);
  const inv: f32 = bad ? <f32>NaN : sum > 0 ? <f32>1 / sum : 0;
  let check: f32 = 0; // finite only if every output is (a finite overflow only costs a recompute)
  for (let x = 0; x < dv; x++) {
    const y = load<f32>(f32At(acc, x)) * inv;
    check += y;
    storeF32(out, o + x, y, dtype);
  }
  if (lse) {
    let l: f32 = sum > 0 ? rowMax + Mathf.log(sum) : <f32>-Infinity;
    if (bad || !(Mathf.abs(check) < <f32>Infinity)) l = <f32>NaN;
    store<f32>(f32At(lse, (b * param(p, P.Q_HEADS) + h) * param(p, P.Q_LEN) + i), l);
  }
}
