export * from "./golden.js";
export * from "./rope-cases.js";
