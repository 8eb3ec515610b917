import { ATTENTION_CASES, type AttentionCase } from "./attention-cases.js";
import { ENCODING_CASES, type EncodingCase } from "./rope-cases.js";

/**
 * One table of op cases (as ggml's test-backend-ops keeps one test_case per op): it feeds the golden-vector
 * generator, the conformance suite and the benchmark suites. Add a case to ENCODING_CASES or
 * ATTENTION_CASES and every backend is checked on it.
 */
export type OpCase = EncodingCase | AttentionCase;

/** Every case of the contract's ops. */
export const OP_CASES: readonly OpCase[] = [...ENCODING_CASES, ...ATTENTION_CASES];
