import { describe, expect, it } from "vitest";
import { Sandbox } from "../src/sandbox.js";
import {
  InvalidResponseError,
  NetworkError,
  PaddockError,
  SandboxNotFoundError,
  UnauthorizedError,
} from "../src/errors.js";
import { SANDBOX_INFO } from "./helpers/fake-daemon.js";

const INFO = { ...SANDBOX_INFO, labels: { team: "ml" } };

interface Call {
  url: string;
  method: string | undefined;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that records each call and answers with the next queued response. */
function fakeFetch(...responses: (() => Response)[]) {
  const calls: Call[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({
      url: String(input),
      method: init?.method,
      headers: { ...(init?.headers as Record<string, string>) },
      body: typeof init?.body === "string" ? JSON.parse(init.body) : init?.body,
    });
    const next = responses.shift();
    if (!next) throw new Error("unexpected fetch");
    return next();
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

describe("Sandbox.create", () => {
  it("posts the request with the bearer token and returns the sandbox", async () => {
    const { fetch, calls } = fakeFetch(json(201, INFO));
    const sandbox = await Sandbox.create({
      url: "http://daemon.test:7423/",
      token: "pdk_abc",
      fetch,
      image: "debian",
      runtime: "runc",
      timeoutSeconds: 600,
      labels: { team: "ml" },
    });
    expect(sandbox.id).toBe(INFO.id);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call!.url).toBe("http://daemon.test:7423/v1/sandboxes");
    expect(call!.method).toBe("POST");
    expect(call!.headers.authorization).toBe("Bearer pdk_abc");
    expect(call!.headers["content-type"]).toBe("application/json");
    // Only the request goes in the body: no url, token or fetch.
    expect(call!.body).toEqual({
      image: "debian",
      runtime: "runc",
      timeoutSeconds: 600,
      labels: { team: "ml" },
    });
  });

  it("throws UnauthorizedError on a 401 error body", async () => {
    const { fetch } = fakeFetch(
      json(401, { error: { code: "unauthorized", message: "the API token is wrong" } }),
    );
    const err = await Sandbox.create({ url: "http://daemon.test", token: "bad", fetch }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err).toBeInstanceOf(PaddockError);
    expect((err as UnauthorizedError).status).toBe(401);
    expect((err as UnauthorizedError).message).toBe(
      "the API token is wrong (token from options.token)",
    );
  });

  it("throws InvalidResponseError for a non-JSON error", async () => {
    const { fetch } = fakeFetch(() => new Response("Bad Gateway", { status: 502 }));
    await expect(
      Sandbox.create({ url: "http://daemon.test", token: "t", fetch }),
    ).rejects.toBeInstanceOf(InvalidResponseError);
  });

  it("throws InvalidResponseError for a success that is not a sandbox", async () => {
    const { fetch } = fakeFetch(json(201, { id: 42 }));
    await expect(
      Sandbox.create({ url: "http://daemon.test", token: "t", fetch }),
    ).rejects.toBeInstanceOf(InvalidResponseError);
  });

  it("throws NetworkError when fetch itself fails", async () => {
    const fetch = (async () => {
      throw new TypeError("fetch failed");
    }) as typeof globalThis.fetch;
    const err = await Sandbox.create({ url: "http://daemon.test", token: "t", fetch }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).code).toBe("network_error");
    expect((err as NetworkError).message).toContain("http://daemon.test");
  });
});

describe("other Sandbox calls", () => {
  it("list sends state and one label parameter per label", async () => {
    const { fetch, calls } = fakeFetch(json(200, { sandboxes: [INFO] }));
    const list = await Sandbox.list({
      url: "http://daemon.test",
      token: "t",
      fetch,
      state: "running",
      labels: { team: "ml", note: "a b" },
    });
    expect(list.map((s) => s.id)).toEqual([INFO.id]);
    const url = new URL(calls[0]!.url);
    expect(url.pathname).toBe("/v1/sandboxes");
    expect(url.searchParams.get("state")).toBe("running");
    expect(url.searchParams.getAll("label")).toEqual(["team=ml", "note=a b"]);
  });

  it("connect throws SandboxNotFoundError on a 404", async () => {
    const { fetch, calls } = fakeFetch(
      json(404, { error: { code: "sandbox_not_found", message: "no sandbox" } }),
    );
    await expect(
      Sandbox.connect("sb_x/../../v1", { url: "http://daemon.test", token: "t", fetch }),
    ).rejects.toBeInstanceOf(SandboxNotFoundError);
    // The id is escaped, so it cannot reach another route.
    expect(new URL(calls[0]!.url).pathname).toBe("/v1/sandboxes/sb_x%2F..%2F..%2Fv1");
  });

  it("terminate deletes the sandbox with the same client", async () => {
    const { fetch, calls } = fakeFetch(
      json(200, INFO),
      json(200, { ...INFO, state: "terminated" }),
    );
    const sandbox = await Sandbox.connect(INFO.id, {
      url: "http://daemon.test",
      token: "t",
      fetch,
    });
    await sandbox.terminate();
    expect(calls.map((c) => [c.method, new URL(c.url).pathname])).toEqual([
      ["GET", `/v1/sandboxes/${INFO.id}`],
      ["DELETE", `/v1/sandboxes/${INFO.id}`],
    ]);
    expect(calls[1]!.headers.authorization).toBe("Bearer t");
  });
});
