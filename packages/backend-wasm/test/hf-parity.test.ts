import { describeHFParity } from "@ropekit/core/testing";
import { createWasmBackend } from "../src/index.js";

describeHFParity({ name: "backend-wasm, 1 thread", create: () => createWasmBackend({ threads: 1 }) });
describeHFParity({ name: "backend-wasm, 2 threads", create: () => createWasmBackend({ threads: 2 }) });
