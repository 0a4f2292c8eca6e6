import { afterEach, describe, expect, it } from "vitest";
import { CommandError } from "../src/exec.js";
import { NftSession, splitAtMarker } from "../src/network/nft-session.js";

/**
 * A stand-in for `nft -i`, as it behaves here (nftables 1.0.6): a line is one transaction,
 * silent when applied; a refused one, and a `list table` of a missing table, print an error,
 * the line and carets on stderr, here a byte at a time. After `slow` it never answers; `die`
 * exits.
 */
const FAKE_NFT = `
const rl = require("node:readline").createInterface({ input: process.stdin });
const write = (text) => { for (const c of text) process.stderr.write(c); };
let stalled = false;
rl.on("line", (line) => {
  if (!line) process.exit(0);
  if (line.includes("die")) process.exit(3);
  if (line.includes("slow")) stalled = true;
  if (stalled) return;
  if (line.startsWith("list table ") || line.includes("bad"))
    write("Error: No such file or directory\\n" + line + "\\n" + " ".repeat(16) + "^^^^\\n");
});
`;

const sessions: NftSession[] = [];
function session(timeoutMs?: number): NftSession {
  const s = new NftSession([process.execPath, "-e", FAKE_NFT], timeoutMs);
  sessions.push(s);
  return s;
}
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

describe("NftSession", () => {
  it("applies scripts one line each, in order, silent when applied", async () => {
    const nft = session();
    await Promise.all([
      nft.apply(["add table inet t", "add chain inet t c"]),
      nft.apply(["flush chain inet t c"]),
    ]);
  });

  it("fails a refused script with nft's output, and goes on with the next", async () => {
    const nft = session();
    const err = await nft.apply(["add rule inet t bad drop"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toBe(
      `Error: No such file or directory\nadd rule inet t bad drop\n${" ".repeat(16)}^^^^\n`,
    );
    await nft.apply(["add table inet t"]);
  });

  it("fails a script whose process died or did not answer, and starts another", async () => {
    const nft = session(2000);
    await expect(nft.apply(["die"])).rejects.toThrow(/exited \(3\)/);
    await nft.apply(["add table inet t"]);
    await expect(nft.apply(["slow"])).rejects.toThrow(/no answer in 2000 ms/);
    await nft.apply(["add table inet t"]);
  });

  it("never sends an empty line (it would end nft -i)", async () => {
    const nft = session();
    await expect(nft.apply([])).rejects.toThrow(/non-empty/);
    await expect(nft.apply(["add table inet t", " "])).rejects.toThrow(/non-empty/);
    await expect(nft.apply(["a\nb"])).rejects.toThrow(/non-empty/);
  });

  it("fails with ENOENT when nft is missing", async () => {
    const nft = new NftSession(["/nonexistent/nft", "-i"]);
    const err = await nft.apply(["add table inet t"]).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: null, stderr: expect.stringMatching(/ENOENT/) });
  });
});

describe("splitAtMarker", () => {
  const marker = "inet paddock_sync_7";
  const block = `Error: No such file or directory\nlist table ${marker}\n                ^^^^^^^^\n`;

  it("waits for the marker's error, carets included", () => {
    for (let i = 0; i < block.length; i++)
      expect(splitAtMarker(block.slice(0, i), marker), String(i)).toBeUndefined();
    expect(splitAtMarker(block, marker)).toEqual({ before: "", rest: "" });
  });

  it("gives what the script printed before it, and keeps what follows", () => {
    const script = "Error: Could not process rule\nadd rule x\n   ^^^\n";
    expect(splitAtMarker(`${script}${block}Error: next`, marker)).toEqual({
      before: script,
      rest: "Error: next",
    });
  });

  it("takes no other marker for its own", () => {
    expect(splitAtMarker(block.replace("_7", "_70"), marker)).toBeUndefined();
  });
});
