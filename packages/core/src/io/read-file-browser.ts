import { RopekitError } from "../errors.js";

/** Browsers and other non-Node runtimes: there is no file system to read a path from. */
export async function readFile(path: string | URL): Promise<Uint8Array> {
  throw new RopekitError(
    "NOT_IMPLEMENTED",
    `cannot read the path ${String(path)} in this runtime: pass the file's bytes or an http(s) URL`,
    "source",
  );
}
