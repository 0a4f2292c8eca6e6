import { randomBytes } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** `sb_` and 16 random base-36 characters: about 82 bits, unguessable and short in paths. */
export function newSandboxId(): string {
  return randomId("sb_");
}

/** `snap_` and 16 random base-36 characters. */
export function newSnapshotId(): string {
  return randomId("snap_");
}

function randomId(prefix: string): string {
  const bytes = randomBytes(16);
  let id = prefix;
  for (const b of bytes) id += ALPHABET[b % ALPHABET.length];
  return id;
}
