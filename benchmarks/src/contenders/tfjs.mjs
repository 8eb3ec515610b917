// TensorFlow.js peers: tfjs-backend-cpu and tfjs-backend-wasm (single-threaded in Node). RoPE in the HF
// layout with half pairing (the form tfjs model ports use), causal attention with a band mask, decode with
// the kv heads tiled for GQA. Tables and masks are built once, outside the timed call.

import { supports } from "../grid.mjs";

export async function tfjsRun(name, config, inputs) {
  const tf = await import("@tensorflow/tfjs-core");
  if (name === "tfjs-cpu") await import("@tensorflow/tfjs-backend-cpu");
  else await import("@tensorflow/tfjs-backend-wasm");
  await tf.setBackend(name === "tfjs-cpu" ? "cpu" : "wasm");
  await tf.ready();

  if (config.op === "rope") {
    if (!supports(name, config)) return undefined;
    const { seq: S, heads: H, headDim: D, position } = config;
    const half = D / 2;
    // HF style: cos/sin of the full head width (the half-table repeated), rotate_half(x) = [−x2, x1].
    const angles = new Float32Array(S * D);
    for (let s = 0; s < S; s++) {
      for (let i = 0; i < D; i++) angles[s * D + i] = (position + s) / 500000 ** ((2 * (i % half)) / D);
    }
    const cos = tf.keep(tf.cos(tf.tensor3d(angles, [S, 1, D])));
    const sin = tf.keep(tf.sin(tf.tensor3d(angles, [S, 1, D])));
    return async () =>
      tf.tidy(() => {
        const x = tf.tensor3d(inputs.x, [S, H, D]);
        const x1 = tf.slice(x, [0, 0, 0], [S, H, half]);
        const x2 = tf.slice(x, [0, 0, half], [S, H, half]);
        const rotated = tf.concat([tf.neg(x2), x1], 2);
        return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)).dataSync();
      });
  }
  if (config.op === "attention") {
    const { qLen, kvLen, qHeads, kvHeads, headDim: D } = config;
    const scale = 1 / Math.sqrt(D);
    if (qLen === 1) {
      // Decode, bhsd: tile the kv heads to the query heads (tfjs has no GQA).
      const group = qHeads / kvHeads;
      return async () =>
        tf.tidy(() => {
          const q = tf.tensor4d(inputs.q, [1, qHeads, 1, D]);
          const tile = (data) =>
            tf.reshape(
              tf.tile(tf.reshape(tf.tensor4d(data, [1, kvHeads, kvLen, D]), [1, kvHeads, 1, kvLen, D]), [
                1,
                1,
                group,
                1,
                1,
              ]),
              [1, qHeads, kvLen, D],
            );
          const p = tf.softmax(tf.mul(tf.matMul(q, tile(inputs.k), false, true), scale));
          return tf.matMul(p, tile(inputs.v)).dataSync();
        });
    }
    const mask = tf.keep(
      tf.tidy(() => tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([qLen, kvLen]), -1, 0), 1), 1e9)),
    );
    return async () =>
      tf.tidy(() => {
        const t = (data, S, H) => tf.transpose(tf.tensor4d(data, [1, S, H, D]), [0, 2, 1, 3]);
        const scores = tf.add(
          tf.mul(tf.matMul(t(inputs.q, qLen, qHeads), t(inputs.k, kvLen, kvHeads), false, true), scale),
          mask,
        );
        return tf
          .transpose(tf.matMul(tf.softmax(scores), t(inputs.v, kvLen, kvHeads)), [0, 2, 1, 3])
          .dataSync();
      });
  }
  return undefined;
}
