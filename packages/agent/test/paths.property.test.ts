import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RESERVED_PREFIX } from "@paddock/protocol";
import { sandboxPath } from "../src/files/paths.js";
import { AgentError } from "../src/router.js";

/**
 * Hostile-input properties of the agent's path canonicalisation: whatever a client sends, the
 * agent either refuses it with a clear code or works on one canonical absolute path that is not
 * its own directory.
 */

const RUNS = { numRuns: 2000 };

/** Path segments an attacker (or an unlucky client) would send. */
const hostileSegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("..", ".", "", "...", ".paddock", ".paddock") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ".paddockx",
      "sock",
      "runtime",
      "agent.sock",
      "etc",
      "tmp",
      "passwd",
      "~",
      "*",
      "%2e%2e",
      "..%2f",
      "..\\..",
      "'",
      '"',
      "`id`",
      "$(rm -rf /)",
      "${HOME}",
      "a b",
      "line\nbreak",
      "cr\r",
      "tab\t",
      "-rf",
      "\u202e",
      "é",
      "e\u0301",
      "\u{1f431}",
      "\uffff",
      "\ud800",
    ),
  },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 8 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("a", "é", "\u{1f431}", "."), fc.integer({ min: 200, max: 5000 }))
      .map(([c, n]) => c.repeat(n)),
  },
);

/** Whole paths: absolute or not, with separators doubled, trailing slashes and the odd NUL. */
const hostilePath: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom("/", "/", "/", "//", "///", "", "./", "../", "~/", " /", "\\", "\0/"),
    fc.array(hostileSegment, { maxLength: 12 }),
    fc.constantFrom("/", "//", "", "", "/.", "/..", "\0"),
  )
  .map(([head, segments, tail]) => head + segments.join("/") + tail);

const anyString = fc.oneof(
  hostilePath,
  fc.string({ unit: "binary" }),
  fc.string({ unit: "binary-ascii" }),
  fc.string({ unit: "grapheme" }),
);

/** A model of the canonical form: segments on a stack, ".." at the root stays at the root. */
function canonical(p: string): string {
  const stack: string[] = [];
  for (const segment of p.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") stack.pop();
    else stack.push(segment);
  }
  return `/${stack.join("/")}`;
}

const isReserved = (p: string) => p === RESERVED_PREFIX || p.startsWith(`${RESERVED_PREFIX}/`);

type Outcome = { ok: true; path: string } | { ok: false; error: AgentError };

function attempt(p: string): Outcome {
  try {
    return { ok: true, path: sandboxPath(p) };
  } catch (err) {
    // Anything but an AgentError would be a 500, not a clear answer.
    expect(err).toBeInstanceOf(AgentError);
    return { ok: false, error: err as AgentError };
  }
}

describe("sandboxPath on hostile input", () => {
  it("refuses with invalid_request or permission_denied, or returns a clean absolute path", () => {
    fc.assert(
      fc.property(anyString, (p) => {
        const out = attempt(p);
        if (!out.ok) {
          expect(["invalid_request", "permission_denied"]).toContain(out.error.code);
          return;
        }
        const r = out.path;
        expect(r.startsWith("/")).toBe(true);
        expect(r).not.toContain("//");
        expect(r).not.toContain("\0");
        expect(`${r}/`).not.toContain("/../");
        expect(`${r}/`).not.toContain("/./");
        if (r !== "/") expect(r.endsWith("/")).toBe(false);
        expect(r.startsWith(`${RESERVED_PREFIX}/`)).toBe(false);
        expect(r).not.toBe(RESERVED_PREFIX);
      }),
      RUNS,
    );
  });

  it("returns exactly the canonical form (a model of segments on a stack)", () => {
    fc.assert(
      fc.property(hostilePath, (p) => {
        fc.pre(!p.includes("\0") && p.startsWith("/"));
        const expected = canonical(p);
        const out = attempt(p);
        if (isReserved(expected)) {
          expect(out.ok).toBe(false);
          if (!out.ok) expect(out.error.code).toBe("permission_denied");
        } else {
          expect(out).toEqual({ ok: true, path: expected });
        }
      }),
      RUNS,
    );
  });

  it("is idempotent: a returned path comes back unchanged", () => {
    fc.assert(
      fc.property(anyString, (p) => {
        const out = attempt(p);
        if (out.ok) expect(sandboxPath(out.path)).toBe(out.path);
      }),
      RUNS,
    );
  });

  it("always refuses a NUL, wherever it is, with invalid_request", () => {
    fc.assert(
      fc.property(anyString, anyString, (before, after) => {
        const out = attempt(`${before}\0${after}`);
        expect(out.ok).toBe(false);
        if (!out.ok) expect(out.error.code).toBe("invalid_request");
      }),
      RUNS,
    );
  });

  it("always refuses a relative path with invalid_request", () => {
    fc.assert(
      fc.property(anyString, (p) => {
        fc.pre(!p.startsWith("/"));
        const out = attempt(p);
        expect(out.ok).toBe(false);
        if (!out.ok) expect(out.error.code).toBe("invalid_request");
      }),
      RUNS,
    );
  });

  it("cannot climb above the root: any number of leading .. lands on the same path", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.constantFrom("..", "../", "./", "/"), { maxLength: 8 }),
        fc.array(
          hostileSegment.filter((s) => !s.includes("\0")),
          { maxLength: 6 },
        ),
        (ups, noise, rest) => {
          const tail = rest.join("/");
          const climbing = attempt(
            `/${"../".repeat(ups)}${noise.map((n) => `${n}/`).join("")}${tail}`,
          );
          const plain = attempt(`/${tail}`);
          if (plain.ok) expect(climbing).toEqual(plain);
          else {
            expect(climbing.ok).toBe(false);
            if (!climbing.ok) expect(climbing.error.code).toBe(plain.error.code);
          }
        },
      ),
      RUNS,
    );
  });

  it("refuses every way of spelling the agent's directory with permission_denied", () => {
    const spellings = fc
      .tuple(
        fc.array(fc.constantFrom("..", ".", "", "tmp/..", "a/b/../.."), { maxLength: 5 }),
        fc.constantFrom(".paddock", ".paddock/.", ".paddock/sock/..", ".paddock//"),
        fc.array(fc.constantFrom("", ".", "sock", "runtime", "sock/agent.sock", "x/..", "..x"), {
          maxLength: 4,
        }),
      )
      .map(([pre, dir, post]) => `/${[...pre, dir, ...post].join("/")}`);
    fc.assert(
      fc.property(spellings, (p) => {
        const out = attempt(p);
        expect(out.ok).toBe(false);
        if (!out.ok) expect(out.error.code).toBe("permission_denied");
      }),
      RUNS,
    );
  });

  it("treats names that only look like the agent's directory as ordinary", () => {
    for (const p of ["/.paddockx", "/.paddock.bak", "/x/.paddock", "/.paddock/../etc", "/.Paddock"])
      expect(attempt(p).ok).toBe(true);
    expect(sandboxPath("/.paddock/../.paddockx/..")).toBe("/");
  });
});
