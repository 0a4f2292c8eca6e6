import { describe, expect, it } from "vitest";
import { findMirror } from "../src/images/mirror.js";

const DEBIAN_SOURCES = `Types: deb
URIs: http://security.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

describe("findMirror", () => {
  it("skips a security stanza and returns the main one from deb822", () => {
    expect(findMirror([DEBIAN_SOURCES], "")).toBe("http://mirror.example.org/debian");
  });

  it("skips a deb-src-only stanza", () => {
    const srcOnly = `Types: deb-src\nURIs: http://src.example.org/debian\nSuites: bookworm\n\n`;
    expect(findMirror([srcOnly + DEBIAN_SOURCES], "")).toBe("http://mirror.example.org/debian");
  });

  it("prefers deb822 files over sources.list", () => {
    expect(findMirror([DEBIAN_SOURCES], "deb http://legacy.example.org/debian bookworm main")).toBe(
      "http://mirror.example.org/debian",
    );
  });

  it("uses the first file that has a mirror", () => {
    const security = DEBIAN_SOURCES.split("\n\n")[0]!;
    expect(findMirror([security, DEBIAN_SOURCES], "")).toBe("http://mirror.example.org/debian");
  });

  it("falls back to sources.list, skipping comments, deb-src, security and [options]", () => {
    const list = [
      "# deb http://commented.example.org/debian bookworm main",
      "deb-src http://src.example.org/debian bookworm main",
      "deb http://security.debian.org/debian-security bookworm-security main",
      "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://legacy.example.org/debian bookworm main",
      "deb http://later.example.org/debian bookworm main",
    ].join("\n");
    expect(findMirror([], list)).toBe("http://legacy.example.org/debian");
  });

  it("accepts indented sources.list lines", () => {
    expect(findMirror([], "   deb http://indented.example.org/debian bookworm main\n")).toBe(
      "http://indented.example.org/debian",
    );
  });

  it("returns undefined when nothing qualifies", () => {
    expect(findMirror([DEBIAN_SOURCES.split("\n\n")[0]!], "# nothing\n")).toBe(undefined);
    expect(findMirror([], "")).toBe(undefined);
  });
});
