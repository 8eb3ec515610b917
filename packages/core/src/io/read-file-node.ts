import { readFile as read } from "node:fs/promises";

/** Node: the bytes of a file (a path or a file: URL). Chosen through package.json `imports` (#read-file). */
export async function readFile(path: string | URL): Promise<Uint8Array> {
  return new Uint8Array(await read(path));
}
