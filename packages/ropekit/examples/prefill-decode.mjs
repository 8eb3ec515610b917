// A Llama-style attention layer with RoPE and GQA: prefill a prompt, then decode token by token
// through a KVCache, and check that decoding gives the same rows as running the whole sequence at once.
//   node examples/prefill-decode.mjs
import { MultiHeadAttention, getBackend, maxRelativeError, ropeSpec } from "ropekit";

const hidden = 256;
const heads = 8;
const kvHeads = 2;
const headDim = 32;
const rand = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * seed) * 0.2);
const weight = (out, inF, seed) => ({ data: rand(out * inF, seed), shape: [out, inF] });

const { backend, name, mode } = await getBackend();
const layer = new MultiHeadAttention(backend, {
  hiddenSize: hidden,
  numHeads: heads,
  numKvHeads: kvHeads,
  headDim,
  rope: ropeSpec({ headDim, base: 500000 }),
  weights: {
    q: weight(heads * headDim, hidden, 1.1),
    k: weight(kvHeads * headDim, hidden, 2.3),
    v: weight(kvHeads * headDim, hidden, 3.7),
    o: weight(hidden, heads * headDim, 4.9),
  },
});

const prompt = 12;
const generated = 4;
const total = prompt + generated;
const x = rand(total * hidden, 0.77); // embeddings of every token, batch 1
const tokens = (from, to) => ({ data: x.slice(from * hidden, to * hidden), shape: [1, to - from, hidden] });

const cache = layer.createCache(1);
await layer.forward(tokens(0, prompt), { cache }); // prefill: positions 0…11
const full = await layer.forward(tokens(0, total)); // reference: the whole sequence at once
console.log(`backend ${name} (${mode}); prefilled ${prompt} tokens, cache holds ${cache.length}`);
for (let t = prompt; t < total; t++) {
  const step = await layer.forward(tokens(t, t + 1), { cache }); // decode: one token at position t
  const err = maxRelativeError(step.data, full.data.subarray(t * hidden, (t + 1) * hidden));
  console.log(
    `decode position ${t}: output[0..2] ${Array.from(step.data.subarray(0, 3), (v) => v.toFixed(5)).join(" ")}  vs prefill: ${err.toExponential(1)}`,
  );
}
