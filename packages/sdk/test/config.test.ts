import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_TOKEN_FILE, resolveClientOptions, tokenFilePath } from "../src/config.js";
import { UnauthorizedError, type PaddockError } from "../src/errors.js";
import { Sandbox } from "../src/sandbox.js";

/** The token the SDK finds, in the CLI's order, and the 401 that says which one was refused. */

const ENV = ["PADDOCK_URL", "PADDOCK_TOKEN", "PADDOCK_DATA_DIR"] as const;
let saved: Record<string, string | undefined>;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "paddock-sdk-config-"));
  await writeFile(path.join(dataDir, "token"), "pdk_from_file\n");
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});
beforeEach(() => {
  saved = Object.fromEntries(ENV.map((name) => [name, process.env[name]]));
  for (const name of ENV) delete process.env[name];
});
afterEach(() => {
  for (const name of ENV) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

/** A fetch that answers 401 with the daemon's body and records the authorization sent. */
function refusingFetch() {
  const sent: (string | undefined)[] = [];
  const fetch = (async (_url: string | URL | Request, init?: RequestInit) => {
    sent.push((init?.headers as Record<string, string> | undefined)?.authorization);
    return new Response(
      JSON.stringify({ error: { code: "unauthorized", message: "the API token is wrong" } }),
      { status: 401, headers: { "content-type": "application/json" } },
    );
  }) as typeof globalThis.fetch;
  return { fetch, sent };
}

async function refusal(options: { token?: string; fetch: typeof fetch }): Promise<PaddockError> {
  const err = await Sandbox.list({ url: "http://daemon.test", ...options }).catch(
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnauthorizedError);
  return err as PaddockError;
}

describe("the token file", () => {
  it("is read from PADDOCK_DATA_DIR, as the CLI does", async () => {
    process.env.PADDOCK_DATA_DIR = dataDir;
    expect(tokenFilePath()).toBe(path.join(dataDir, "token"));
    const resolved = resolveClientOptions();
    expect(resolved.token).toBe("pdk_from_file");
    expect(resolved.tokenSource).toBe(`the token file ${path.join(dataDir, "token")}`);
    const { fetch, sent } = refusingFetch();
    await refusal({ fetch });
    expect(sent).toEqual(["Bearer pdk_from_file"]);
  });

  it("is the default data dir's without PADDOCK_DATA_DIR", () => {
    expect(tokenFilePath()).toBe(DEFAULT_TOKEN_FILE);
  });

  it("comes after options.token and PADDOCK_TOKEN", () => {
    process.env.PADDOCK_DATA_DIR = dataDir;
    process.env.PADDOCK_TOKEN = "pdk_env";
    expect(resolveClientOptions()).toMatchObject({
      token: "pdk_env",
      tokenSource: "PADDOCK_TOKEN",
    });
    expect(resolveClientOptions({ token: "pdk_opt" })).toMatchObject({
      token: "pdk_opt",
      tokenSource: "options.token",
    });
  });
});

describe("a 401 says where the token came from", () => {
  it("options.token", async () => {
    const err = await refusal({ token: "pdk_opt", fetch: refusingFetch().fetch });
    expect(err.message).toBe("the API token is wrong (token from options.token)");
    expect(err.details).toMatchObject({ tokenSource: "options.token" });
    expect(err).toMatchObject({ code: "unauthorized", status: 401 });
  });

  it("PADDOCK_TOKEN", async () => {
    process.env.PADDOCK_TOKEN = "pdk_env";
    const err = await refusal({ fetch: refusingFetch().fetch });
    expect(err.message).toContain("(token from PADDOCK_TOKEN)");
  });

  it("the token file, with its path", async () => {
    process.env.PADDOCK_DATA_DIR = dataDir;
    const err = await refusal({ fetch: refusingFetch().fetch });
    expect(err.message).toContain(`(token from the token file ${path.join(dataDir, "token")})`);
  });

  it("no token at all: where it was looked for", async () => {
    process.env.PADDOCK_DATA_DIR = path.join(dataDir, "elsewhere");
    const { fetch, sent } = refusingFetch();
    const err = await refusal({ fetch });
    expect(sent).toEqual([undefined]);
    expect(err.message).toContain("no token was sent");
    expect(err.message).toContain(path.join(dataDir, "elsewhere", "token"));
  });
});
