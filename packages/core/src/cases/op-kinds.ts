import type { OpKind } from "./op-kind.js";
import { LINEAR } from "./linear-cases.js";
import { RMS_NORM } from "./rms-norm-cases.js";

/** Every op kind described by an `OpKind` (the recipe's ops); the older ops still live in OP_CASES. */
export const OP_KINDS: readonly OpKind[] = [RMS_NORM, LINEAR];
