// The f64 reference against transformers 4.57.6's own attention modules (fixtures in src/testing/hf-parity).
import { createReferenceBackend } from "../src/index.js";
import { describeHFParity } from "../src/testing/index.js";

describeHFParity({ name: "reference (f64)", create: createReferenceBackend });
