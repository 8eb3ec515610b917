export * from "./attention-cases.js";
export * from "./golden.js";
export * from "./rope-cases.js";
export * from "./seeded.js";
export * from "./op-cases.js";
export * from "./op-kind.js";
export * from "./op-kinds.js";
export * from "./rms-norm-cases.js";
