import { describeReliability } from "@ropekit/core/testing";
import { createJsBackend } from "../src/index.js";

describeReliability({ name: "backend-js", create: () => createJsBackend(), tolerance: 1e-5 });
