import { readFile, readdir } from "node:fs/promises";

/**
 * The Debian mirror this machine's apt uses: the first non-security URI in the deb822 sources
 * or the one-line sources.list. Images are built from it so no mirror host is hard-coded.
 */
export async function aptMirror(): Promise<string> {
  const texts: string[] = [];
  const dir = "/etc/apt/sources.list.d";
  for (const name of (await readdir(dir).catch(() => [])).sort()) {
    if (name.endsWith(".sources")) texts.push(await readFile(`${dir}/${name}`, "utf8"));
  }
  const mirror = findMirror(texts, await readFile("/etc/apt/sources.list", "utf8").catch(() => ""));
  if (!mirror) throw new Error("no Debian mirror found in /etc/apt/sources.list or sources.list.d");
  return mirror;
}

export function findMirror(deb822Files: string[], sourcesList: string): string | undefined {
  for (const text of deb822Files) {
    for (const stanza of text.split(/\n\s*\n/)) {
      // deb822 field names are case-insensitive.
      const uri = /^URIs:\s*(\S+)/im.exec(stanza)?.[1];
      const types = /^Types:\s*(.+)$/im.exec(stanza)?.[1] ?? "";
      const disabled = /^Enabled:\s*no\s*$/im.test(stanza);
      if (uri && !disabled && types.split(/\s+/).includes("deb") && !/security/.test(uri))
        return uri;
    }
  }
  for (const line of sourcesList.split("\n")) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line.trim());
    if (m && !/security/.test(m[1]!)) return m[1];
  }
  return undefined;
}
