import { describeHFParity } from "@ropekit/core/testing";
import { createJsBackend } from "../src/index.js";

describeHFParity({ name: "backend-js", create: () => createJsBackend() });
