import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PATH_LIMITS, ModeSchema, RESERVED_PREFIX, SandboxPathSchema } from "../src/index.js";
import {
  CreateSandboxRequestSchema,
  ENV_LIMITS,
  LABEL_LIMITS,
  RUNTIMES,
  SANDBOX_DEFAULTS,
} from "../src/sandbox.js";
import { ExecRequestSchema, PROCESS_LIMITS } from "../src/processes.js";
// The agent's canonicalisation, to check that the daemon's schema and the agent agree.
import { sandboxPath } from "../../agent/src/files/paths.js";

/**
 * Hostile-input properties of the request schemas: safeParse never throws, and whatever it
 * lets through is within the documented limits.
 */

const RUNS = { numRuns: 1000 };

type Verdict = "ok" | "invalid_request" | "permission_denied" | "other";
function agentVerdict(p: string): Verdict {
  try {
    sandboxPath(p);
    return "ok";
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === "invalid_request" || code === "permission_denied" ? code : "other";
  }
}

const pathSegment = fc.oneof(
  fc.constantFrom("..", ".", "", ".paddock", "sock", "etc", "$(id)", "'", '"', "a\nb", "é"),
  fc.string({ unit: "binary", maxLength: 10 }),
);
const pathLike = fc.oneof(
  fc
    .tuple(
      fc.constantFrom("/", "//", "", "./", "\0", "/\0"),
      fc.array(pathSegment, { maxLength: 10 }),
    )
    .map(([head, segments]) => head + segments.join("/")),
  // Around the length limit, absolute or not.
  fc
    .tuple(
      fc.constantFrom("/", "a", "/.paddock/", "/../"),
      fc.integer({ min: PATH_LIMITS.length - 8, max: PATH_LIMITS.length + 8 }),
      fc.constantFrom("x", "é", "/", "\u{1f431}"),
    )
    .map(([head, n, c]) => (head + c.repeat(n)).slice(0, n)),
  fc.string({ unit: "binary" }),
);

describe("SandboxPathSchema against the agent's sandboxPath", () => {
  it("whatever the schema accepts, the agent accepts or refuses only as reserved", () => {
    fc.assert(
      fc.property(pathLike, (p) => {
        if (!SandboxPathSchema.safeParse(p).success) return;
        const verdict = agentVerdict(p);
        expect(["ok", "permission_denied"]).toContain(verdict);
        if (verdict === "permission_denied") {
          const resolved = path.posix.resolve(p);
          expect(resolved === RESERVED_PREFIX || resolved.startsWith(`${RESERVED_PREFIX}/`)).toBe(
            true,
          );
        }
      }),
      RUNS,
    );
  });

  it("a NUL or a relative path is refused by both, as invalid_request by the agent", () => {
    fc.assert(
      fc.property(pathLike, (p) => {
        fc.pre(p.includes("\0") || !p.startsWith("/"));
        expect(SandboxPathSchema.safeParse(p).success).toBe(false);
        expect(agentVerdict(p)).toBe("invalid_request");
      }),
      RUNS,
    );
  });

  it("the only paths the schema refuses and the agent takes are the over-long ones", () => {
    // sandboxPath has no length limit of its own: a path over PATH_LIMITS.length that reaches
    // it without the schema (a tar entry name in a batch upload) is left to the kernel's
    // ENAMETOOLONG.
    fc.assert(
      fc.property(pathLike, (p) => {
        if (SandboxPathSchema.safeParse(p).success || agentVerdict(p) !== "ok") return;
        expect(p.length).toBeGreaterThan(PATH_LIMITS.length);
      }),
      RUNS,
    );
  });

  it("accepts exactly PATH_LIMITS.length characters and refuses one more", () => {
    const at = `/${"a".repeat(PATH_LIMITS.length - 1)}`;
    expect(SandboxPathSchema.safeParse(at).success).toBe(true);
    expect(SandboxPathSchema.safeParse(`${at}a`).success).toBe(false);
    expect(SandboxPathSchema.safeParse("").success).toBe(false);
  });
});

/** Values of every type a JSON body (or a confused SDK caller) could put in a field. */
const wild = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(
    0,
    -1,
    15,
    16,
    16.5,
    1e308,
    -0,
    Number.NaN,
    Infinity,
    -Infinity,
    Number.MAX_SAFE_INTEGER + 2,
    "512",
    "runc",
    "",
    true,
    null,
    [],
    {},
  ),
);
const labelKey = fc.oneof(
  fc.constantFrom("team", "a", "a.b/c-d_e", "__proto__", "constructor", "toString", "-x", "x-"),
  fc.string({ unit: "grapheme-ascii", maxLength: 70 }),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,61}[A-Za-z0-9]$/),
);
const labels = fc.oneof(
  fc.dictionary(labelKey, fc.oneof(fc.string({ maxLength: 300 }), wild), { maxKeys: 40 }),
  fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), fc.string({ maxLength: 10 }), {
    minKeys: 28,
    maxKeys: 36,
  }),
  wild,
);
const env = fc.oneof(
  fc.dictionary(
    fc.oneof(
      fc.constantFrom("PATH", "_", "A1", "1A", "A-B", "__proto__", "LD_PRELOAD"),
      fc.string({ maxLength: 8 }),
    ),
    fc.oneof(fc.string({ maxLength: 20 }), fc.constant("a\0b"), wild),
    { maxKeys: 8 },
  ),
  wild,
);
/** Mostly a plausible value, sometimes a hostile one. */
const field = <T>(fine: fc.Arbitrary<T>, hostile: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 5, arbitrary: fine }, { weight: 1, arbitrary: hostile });
/** Bodies shaped like create requests, each field fine, at its edge, or hostile. */
const createBody = fc.record(
  {
    image: field(
      fc.constantFrom("busybox", "debian", "a".repeat(64)),
      fc.oneof(fc.constantFrom("../etc", "Busybox", "a".repeat(65), "x/y", "-x"), wild),
    ),
    runtime: field(
      fc.constantFrom(...RUNTIMES),
      fc.oneof(fc.constantFrom("kata", "RUNC", "runc ", ""), wild),
    ),
    env: field(fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,6}$/), fc.string()), env),
    cpu: field(fc.double({ min: 0.2, max: 64, noNaN: true }), fc.oneof(fc.double(), wild)),
    memoryMiB: field(
      fc.integer({ min: 64, max: 256 * 1024 }),
      fc.oneof(fc.integer({ min: -10, max: 300 * 1024 }), fc.double(), wild),
    ),
    pidsLimit: field(fc.integer({ min: 8, max: 1 << 20 }), fc.oneof(fc.integer(), wild)),
    timeoutSeconds: field(
      fc.integer({ min: 1, max: 7 * 24 * 3600 }),
      fc.oneof(fc.integer(), fc.double(), wild),
    ),
    labels: field(
      fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9.-]{0,8}[a-z]$/), fc.string(), {
        maxKeys: LABEL_LIMITS.count,
      }),
      labels,
    ),
    docker: field(fc.boolean(), wild),
  },
  { requiredKeys: [] },
);
/** Now and then an unknown key, which a strict object refuses. */
const createBodyMaybeExtra = fc
  .tuple(createBody, fc.option(wild, { freq: 6 }))
  .map(([body, extra]) => (extra === null ? body : { ...body, extra }));

/** A successful parse must be within every documented limit. */
function checkSpec(data: unknown) {
  const spec = data as Record<string, unknown> & {
    labels: Record<string, unknown>;
    env: Record<string, unknown>;
  };
  expect(RUNTIMES).toContain(spec.runtime);
  expect(Number.isInteger(spec.memoryMiB)).toBe(true);
  expect(spec.memoryMiB).toBeGreaterThanOrEqual(64);
  expect(spec.memoryMiB).toBeLessThanOrEqual(256 * 1024);
  expect(Number.isInteger(spec.pidsLimit)).toBe(true);
  expect(Number.isInteger(spec.timeoutSeconds)).toBe(true);
  expect(spec.timeoutSeconds).toBeGreaterThanOrEqual(1);
  expect(spec.cpu).toBeGreaterThanOrEqual(0.2);
  expect(spec.cpu).toBeLessThanOrEqual(64);
  expect(typeof spec.docker).toBe("boolean");
  expect(Object.keys(spec)).not.toContain("extra");
  expect(Object.getPrototypeOf(spec.labels)).toBe(Object.prototype);
  expect(Object.getPrototypeOf(spec.env)).toBe(Object.prototype);
  const labelKeys = Object.keys(spec.labels);
  expect(labelKeys.length).toBeLessThanOrEqual(LABEL_LIMITS.count);
  for (const key of labelKeys) {
    expect(key.length).toBeLessThanOrEqual(LABEL_LIMITS.keyLength);
    expect(typeof spec.labels[key]).toBe("string");
    expect((spec.labels[key] as string).length).toBeLessThanOrEqual(LABEL_LIMITS.valueLength);
  }
  const envKeys = Object.keys(spec.env);
  expect(envKeys.length).toBeLessThanOrEqual(ENV_LIMITS.count);
  for (const key of envKeys) {
    expect(key).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
    expect(typeof spec.env[key]).toBe("string");
    expect(spec.env[key] as string).not.toContain("\0");
  }
}

describe("CreateSandboxRequestSchema on arbitrary input", () => {
  const parse = (input: unknown) => {
    // safeParse must answer, not throw, whatever it is given.
    const result = CreateSandboxRequestSchema.safeParse(input);
    if (result.success) checkSpec(result.data);
    else expect(result.error.issues.length).toBeGreaterThan(0);
    return result.success;
  };

  it("never throws on any JSON text's value", () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        parse(JSON.parse(text));
      }),
      RUNS,
    );
  });

  it("never throws on anything (maps, sets, null prototypes, bigints, boxed values…)", () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBoxedValues: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withBigInt: true,
          withDate: true,
          withTypedArray: true,
          withSparseArray: true,
          withObjectString: true,
          withUnicodeString: true,
        }),
        (input) => {
          parse(input);
        },
      ),
      RUNS,
    );
  });

  it("keeps every accepted create body within its limits (and accepts some)", () => {
    let accepted = 0;
    fc.assert(
      fc.property(createBodyMaybeExtra, (body) => {
        if (parse(body)) accepted++;
        // The same body after a JSON round trip, as the daemon would see it.
        parse(JSON.parse(JSON.stringify(body)));
      }),
      { numRuns: 3000 },
    );
    // The generator is meant to reach the success branch often enough to check it.
    expect(accepted).toBeGreaterThan(30);
  });

  it("keeps JSON bodies whose keys are __proto__ from reaching the prototype", () => {
    for (const text of [
      '{"labels":{"__proto__":"x"}}',
      '{"labels":{"__proto__":{"polluted":"yes"}}}',
      '{"env":{"__proto__":"x"}}',
      '{"env":{"__proto__":{"polluted":"yes"}}}',
      '{"__proto__":{"runtime":"kata"}}',
    ]) {
      const result = CreateSandboxRequestSchema.safeParse(JSON.parse(text));
      // zod drops a "__proto__" key from a record (unchecked): it never reaches the spec.
      if (result.success) {
        checkSpec(result.data);
        expect(Object.hasOwn(result.data.env, "__proto__")).toBe(false);
        expect(Object.hasOwn(result.data.labels, "__proto__")).toBe(false);
        expect(result.data.runtime).toBe("runsc");
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
  });

  it("fills the documented defaults for an empty body", () => {
    const spec = CreateSandboxRequestSchema.parse({});
    expect(spec.runtime).toBe(SANDBOX_DEFAULTS.runtime);
    expect(spec.memoryMiB).toBe(SANDBOX_DEFAULTS.memoryMiB);
  });
});

describe("ExecRequestSchema on hostile argv", () => {
  const arg = fc.oneof(
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.constantFrom("sh", "-c", "$(id)", "`id`", "'", "a\nb", ""),
  );
  const argv = fc.array(arg, { minLength: 1, maxLength: 8 });

  it("refuses any argv with a NUL in any argument", () => {
    fc.assert(
      fc.property(argv, fc.nat(), arg, arg, (args, at, before, after) => {
        const withNul = [...args];
        withNul.splice(at % (args.length + 1), 0, `${before}\0${after}`);
        expect(ExecRequestSchema.safeParse({ argv: withNul }).success).toBe(false);
      }),
      RUNS,
    );
  });

  it("accepts any argv without NUL, of 1 to the limit's arguments, as given", () => {
    fc.assert(
      fc.property(argv, (args) => {
        fc.pre(args.every((a) => !a.includes("\0")));
        const result = ExecRequestSchema.safeParse({ argv: args });
        expect(result.success).toBe(true);
        expect(result.data?.argv).toEqual(args);
      }),
      RUNS,
    );
  });

  it("refuses an empty argv, a non-array and one argument over the limit", () => {
    expect(ExecRequestSchema.safeParse({ argv: [] }).success).toBe(false);
    expect(ExecRequestSchema.safeParse({}).success).toBe(false);
    expect(ExecRequestSchema.safeParse({ argv: "sh -c id" }).success).toBe(false);
    expect(ExecRequestSchema.safeParse({ argv: [null] }).success).toBe(false);
    const max = Array.from({ length: PROCESS_LIMITS.argvLength }, () => "x");
    expect(ExecRequestSchema.safeParse({ argv: max }).success).toBe(true);
    expect(ExecRequestSchema.safeParse({ argv: [...max, "x"] }).success).toBe(false);
  });

  it("refuses a NUL in cwd and user too", () => {
    expect(ExecRequestSchema.safeParse({ argv: ["id"], cwd: "/tmp\0x" }).success).toBe(false);
    expect(ExecRequestSchema.safeParse({ argv: ["id"], user: "root\0" }).success).toBe(false);
  });

  it("never throws on anything", () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withMap: true }), (input) => {
        ExecRequestSchema.safeParse(input);
        ExecRequestSchema.safeParse({ argv: input });
      }),
      RUNS,
    );
  });
});

describe("ModeSchema", () => {
  const octal = fc
    .tuple(fc.boolean(), fc.array(fc.constantFrom(..."01234567"), { minLength: 3, maxLength: 4 }))
    .map(([zero, digits]) => (zero ? "0" : "") + digits.join(""));

  it('maps every text matching "0?[0-7]{3,4}" to its octal value', () => {
    fc.assert(
      fc.property(octal, (text) => {
        expect(ModeSchema.parse(text)).toBe(parseInt(text, 8));
      }),
      RUNS,
    );
  });

  it("refuses every other text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 8 }),
          fc.stringMatching(/^[0-9]{1,6}$/),
          octal.map((o) => `${o}\n`),
          octal.map((o) => `\n${o}`),
          octal.map((o) => ` ${o} `),
          octal.map((o) => `0o${o}`),
          octal.map((o) => `-${o}`),
          octal.map((o) => `+${o}`),
          fc.constantFrom("00755", "77777", "1e3", "755.0", "０７５５", "0x1ff"),
        ),
        (text) => {
          fc.pre(!/^0?[0-7]{3,4}$/.test(text));
          expect(ModeSchema.safeParse(text).success).toBe(false);
        },
      ),
      RUNS,
    );
  });

  it("takes integers 0..0o7777 as they are and refuses other numbers", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0o7777 }), (n) => {
        expect(ModeSchema.parse(n)).toBe(n);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ max: -1 }),
          fc.integer({ min: 0o10000 }),
          fc.double().filter((d) => !Number.isInteger(d)),
        ),
        (n) => {
          expect(ModeSchema.safeParse(n).success).toBe(false);
        },
      ),
      RUNS,
    );
  });
});
