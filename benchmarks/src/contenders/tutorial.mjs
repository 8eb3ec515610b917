// The code most projects start from, written the way tutorials write it: tables rebuilt on every call,
// rotate_half with temporaries, attention with the full score matrix of each head.

export function tutorialRun(config, inputs) {
  if (config.op === "rope") {
    const { x, shape } = inputs;
    const { headDim: D, rotaryDim: R, pairing, layout } = config;
    const base = 500000;
    return async () => {
      const [b0, a1, a2] = shape;
      const seq = layout === "bshd" ? a1 : a2;
      const heads = layout === "bshd" ? a2 : a1;
      const invFreq = Array.from({ length: R / 2 }, (_, i) => 1 / base ** ((2 * i) / R));
      const cos = [];
      const sin = [];
      for (let s = 0; s < seq; s++) {
        const angles = invFreq.map((f) => (config.position + s) * f);
        cos.push(angles.map(Math.cos));
        sin.push(angles.map(Math.sin));
      }
      const out = new Float32Array(x.length);
      for (let b = 0; b < b0; b++) {
        for (let s = 0; s < seq; s++) {
          for (let h = 0; h < heads; h++) {
            const o = layout === "bshd" ? ((b * seq + s) * heads + h) * D : ((b * heads + h) * seq + s) * D;
            const row = Array.from(x.subarray(o, o + D));
            for (let i = 0; i < R / 2; i++) {
              const [ia, ib] = pairing === "half" ? [i, i + R / 2] : [2 * i, 2 * i + 1];
              out[o + ia] = row[ia] * cos[s][i] - row[ib] * sin[s][i];
              out[o + ib] = row[ib] * cos[s][i] + row[ia] * sin[s][i];
            }
            for (let c = R; c < D; c++) out[o + c] = row[c];
          }
        }
      }
      return out;
    };
  }
  if (config.op === "sinusoidal") {
    const { x } = inputs;
    return async () => {
      const out = new Float32Array(x.length);
      for (let s = 0; s < config.seq; s++) {
        for (let i = 0; i < config.dim; i++) {
          const angle = s / 10000 ** ((2 * Math.floor(i / 2)) / config.dim);
          out[s * config.dim + i] = x[s * config.dim + i] + (i % 2 === 0 ? Math.sin(angle) : Math.cos(angle));
        }
      }
      return out;
    };
  }
  if (config.op === "attention") {
    const { q, k, v } = inputs;
    const { qLen, kvLen, qHeads, kvHeads, headDim: D, layout } = config;
    const at = (heads, seq, s, h) => (layout === "bshd" ? (s * heads + h) * D : (h * seq + s) * D);
    return async () => {
      const out = new Float32Array(q.length);
      for (let h = 0; h < qHeads; h++) {
        const kh = Math.floor((h * kvHeads) / qHeads);
        // The whole qLen × kvLen score matrix of the head, as tutorials build it.
        const scores = new Float32Array(qLen * kvLen);
        for (let i = 0; i < qLen; i++) {
          for (let j = 0; j < kvLen; j++) {
            let s = 0;
            for (let d = 0; d < D; d++) s += q[at(qHeads, qLen, i, h) + d] * k[at(kvHeads, kvLen, j, kh) + d];
            scores[i * kvLen + j] = j > kvLen - qLen + i ? Number.NEGATIVE_INFINITY : s / Math.sqrt(D);
          }
        }
        for (let i = 0; i < qLen; i++) {
          const row = scores.subarray(i * kvLen, (i + 1) * kvLen);
          const max = Math.max(...row);
          let sum = 0;
          for (let j = 0; j < kvLen; j++) sum += row[j] = Math.exp(row[j] - max);
          const o = at(qHeads, qLen, i, h);
          for (let d = 0; d < D; d++) {
            let acc = 0;
            for (let j = 0; j < kvLen; j++) acc += row[j] * v[at(kvHeads, kvLen, j, kh) + d];
            out[o + d] = acc / sum;
          }
        }
      }
      return out;
    };
  }
  return undefined;
}
