// The attention kernel's parameter block, defined once: the host writes it (src/ops/attention.ts) and
// the kernel reads it (assembly/attention*.ts imports this very file). It is therefore both TypeScript
// and AssemblyScript: numeric constants only, no imports. Each constant is a word index into the block
// (4 bytes a word); every word is an i32 except SCALE and SOFTCAP, which are f32. Element strides count
// floats, addresses are byte pointers into wasm memory (0 = none).

// ---- sizes ----
export const BATCH = 0;
export const Q_HEADS = 1;
export const KV_HEADS = 2;
export const Q_LEN = 3;
export const KV_LEN = 4;
/** Head size of q and k. */
export const HEAD_DIM = 5;
/** Head size of v (and of the output). */
export const V_HEAD_DIM = 6;

// ---- which keys a query sees ----
/** Absolute position of query row 0 (keys are at 0 … kvLen − 1). */
export const Q_OFFSET = 7;
/** 1: causal upper bound on. */
export const CAUSAL = 8;
/** Sliding window W, 0 for none. */
export const WINDOW = 9;

// ---- buffers ----
export const Q_PTR = 10;
export const K_PTR = 11;
export const V_PTR = 12;
export const OUT_PTR = 13;
/** Log-sum-exp of every row, [batch, qHeads, qLen]. */
export const LSE_PTR = 14;

// ---- element strides [batch, seq, head] of q, k, v and the output ----
export const Q_STRIDE_BATCH = 15;
export const Q_STRIDE_SEQ = 16;
export const Q_STRIDE_HEAD = 17;
export const K_STRIDE_BATCH = 18;
export const K_STRIDE_SEQ = 19;
export const K_STRIDE_HEAD = 20;
export const V_STRIDE_BATCH = 21;
export const V_STRIDE_SEQ = 22;
export const V_STRIDE_HEAD = 23;
export const OUT_STRIDE_BATCH = 24;
export const OUT_STRIDE_SEQ = 25;
export const OUT_STRIDE_HEAD = 26;

// ---- mask and biases ----
/** u8 (boolean) or f32 (additive) mask, broadcast by its strides. */
export const MASK_PTR = 27;
/** 1: the mask is boolean (u8, non-zero = the key takes part). */
export const MASK_BOOLEAN = 28;
export const MASK_STRIDE_BATCH = 29;
export const MASK_STRIDE_HEAD = 30;
export const MASK_STRIDE_QUERY = 31;
/** f32 ALiBi slope of every query head. */
export const ALIBI_PTR = 32;

// ---- this thread ----
/** The thread's scratch memory (attentionScratchBytes(headDim, vHeadDim) bytes). */
export const SCRATCH_PTR = 33;

// ---- f32 scalars ----
/** Multiplies q·k. */
export const SCALE = 34;
/** Logit soft-cap, 0 for none. */
export const SOFTCAP = 35;

// ---- work distribution: units are blocks of query rows of one (batch, kv head) ----
/** The first unit this thread takes when there is no shared counter. */
export const WORK_FIRST = 36;
/** Then every WORK_STEP-th unit. */
export const WORK_STEP = 37;
/** Address of a shared i32 the threads claim units from (0: use WORK_FIRST / WORK_STEP). */
export const WORK_COUNTER = 38;

// ---- decode (split-K): few query rows against a long cache ----
/** What the call does: MODE_TILED, MODE_DECODE (partials of key chunks) or MODE_REDUCE (partials → rows). */
export const MODE = 39;
/** Keys per chunk (a multiple of the key tile) in MODE_DECODE; units are (batch, kv head, chunk). */
export const CHUNK_KEYS = 40;
/** Chunks per (batch, kv head). */
export const CHUNKS = 41;
/** f32 partials of every unit: per packed row its max, its sum (NaN: a row for the f64 recompute), acc[dv]. */
export const PARTIALS_PTR = 42;

// ---- dtypes (DTYPE_*): q, k, v are read as f32 (halves converted as they are loaded), the output is
// written in OUT_DTYPE (rounded to nearest even). Strides count elements of each tensor's own dtype.
export const Q_DTYPE = 43;
export const K_DTYPE = 44;
export const V_DTYPE = 45;
export const OUT_DTYPE = 46;

/** Words in the block. */
export const PARAM_WORDS = 47;

/** Dtype code: float32. */
export const DTYPE_F32 = 0;
/** Dtype code: float16 (IEEE half bits). */
export const DTYPE_F16 = 1;
/** Dtype code: bfloat16 (the top half of an f32's bits). */
export const DTYPE_BF16 = 2;

/** MODE: the tiled kernel, work units are blocks of query rows. */
export const MODE_TILED = 0;
/** MODE: split-K decode, each unit writes the partial softmax state of one key chunk. */
export const MODE_DECODE = 1;
/** MODE: combines the chunks' partials into the output and lse (one thread). */
export const MODE_REDUCE = 2;
/** Most packed rows (query heads of a kv head × query positions) the decode mode takes. */
export const DECODE_MAX_ROWS = 8;
