import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorBodySchema, type CreateSandboxSpec } from "@paddock/protocol";
import { buildApi } from "../src/api/server.js";
import { PaddockError } from "../src/errors.js";
import type { ImageService } from "../src/images/image-service.js";
import { Layout } from "../src/layout.js";
import { silentLogger } from "../src/logger.js";
import type { PortService } from "../src/ports/port-service.js";
import type { Runtimes } from "../src/runtimes/index.js";
import {
  checkCreatePolicy,
  createRefusal,
  ownerOf,
  type CreatePolicy,
} from "../src/sandboxes/create-policy.js";
import { SandboxService } from "../src/sandboxes/sandbox-service.js";
import { openDatabase } from "../src/state/database.js";
import { KeyStore } from "../src/state/key-store.js";
import type { SandboxStore } from "../src/state/sandbox-store.js";

const ADMIN = { admin: true, name: null };
const KEY = { admin: false, name: "alice" };
const OFF: CreatePolicy = { allowRuncDocker: false };
const ON: CreatePolicy = { allowRuncDocker: true };

const refusal = (run: () => void) => {
  try {
    run();
  } catch (err) {
    return err as PaddockError;
  }
  return undefined;
};

describe("checkCreatePolicy", () => {
  it.each([
    ["runsc", false],
    ["runsc", true],
    ["runc", false],
  ] as const)("allows %s with docker %s to anyone, on any daemon", (runtime, docker) => {
    for (const caller of [ADMIN, KEY])
      for (const policy of [OFF, ON])
        expect(() => checkCreatePolicy({ runtime, docker }, caller, policy)).not.toThrow();
  });

  it("refuses runc with docker to the admin on a default daemon, and names runsc and the flag", () => {
    const err = refusal(() => checkCreatePolicy({ runtime: "runc", docker: true }, ADMIN, OFF));
    expect(err).toBeInstanceOf(PaddockError);
    expect(err!.code).toBe("forbidden");
    expect(err!.message).toMatch(/root on the host/);
    expect(err!.message).toMatch(/runtime runsc \(gVisor, the default\)/);
    expect(err!.message).toMatch(/--allow-runc-docker/);
  });

  it("refuses runc with docker to an API key even when the operator allowed it", () => {
    for (const policy of [OFF, ON]) {
      const err = refusal(() => checkCreatePolicy({ runtime: "runc", docker: true }, KEY, policy));
      expect(err!.code).toBe("forbidden");
      expect(err!.message).toMatch(/root on the host/);
      expect(err!.message).toMatch(/runtime runsc/);
      expect(err!.message).toMatch(/API keys never/);
      // Nothing the key's holder can do about it: no daemon flag to hint at.
      expect(err!.message).not.toMatch(/--allow-runc-docker/);
    }
  });

  it("allows runc with docker to the admin when the operator opted in", () => {
    expect(() => checkCreatePolicy({ runtime: "runc", docker: true }, ADMIN, ON)).not.toThrow();
  });

  it("judges a stored sandbox by its owner: a key's never passes, the admin's only with the opt-in", () => {
    const stored = { runtime: "runc", docker: true } as const;
    expect(createRefusal(stored, ownerOf("alice"), ON)).toMatch(/API keys never/);
    expect(createRefusal(stored, ownerOf(null), ON)).toBeUndefined();
    expect(createRefusal(stored, ownerOf(null), OFF)).toMatch(/root on the host/);
  });
});

/**
 * A real SandboxService and API over fakes that record what create reached: the image store is
 * asked for the rootfs first, then the store gets the row. The store stops the create there, so
 * nothing is started.
 */
async function harness(policy?: CreatePolicy) {
  const dir = await mkdtemp(path.join(tmpdir(), "paddock-policy-"));
  const reached: string[] = [];
  const inserted: CreateSandboxSpec[] = [];
  const rootfs = path.join(dir, "rootfs");
  const images = {
    async require(name: string) {
      reached.push(`image ${name}`);
      return rootfs;
    },
    async use<T>(name: string, _progress: unknown, claim: (resolved: { image: string }) => T) {
      reached.push(`image ${name}`);
      return { rootfs, claimed: claim({ image: name }) };
    },
  } as unknown as ImageService;
  const store = {
    insert(_id: string, spec: CreateSandboxSpec) {
      inserted.push(spec);
      throw new PaddockError("conflict", "the test stops the create here");
    },
  } as unknown as SandboxStore;
  const untouched = new Proxy(
    {},
    {
      get(_t, prop) {
        throw new Error(`the runtime was used (${String(prop)})`);
      },
    },
  );
  const sandboxes = new SandboxService({
    store,
    images,
    runtimes: { runc: untouched, runsc: untouched } as unknown as Runtimes,
    layout: new Layout(dir),
    agentRuntimeDir: path.join(dir, "runtime"),
    policy,
    log: silentLogger,
  });
  const db = openDatabase(path.join(dir, "state.db"));
  const keys = new KeyStore(db);
  const app = await buildApi({
    token: "pdk_admin-token",
    sandboxes,
    images,
    ports: {} as unknown as PortService,
    keys,
    store,
    log: silentLogger,
  });
  await app.ready();
  const key = keys.create("alice").key;
  return {
    app,
    reached,
    inserted,
    admin: { authorization: "Bearer pdk_admin-token" },
    key: { authorization: `Bearer ${key}` },
    async close() {
      await app.close();
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe("creating a Docker sandbox under runc, through the API", () => {
  let h: Awaited<ReturnType<typeof harness>> | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const create = (app: FastifyInstance, headers: Record<string, string>, payload: object) =>
    app.inject({ method: "POST", url: "/v1/sandboxes", headers, payload });

  it("a default daemon answers 403 to the admin and to a key before it touches an image or the store", async () => {
    h = await harness();
    for (const headers of [h.admin, h.key]) {
      const res = await create(h.app, headers, { runtime: "runc", docker: true });
      expect(res.statusCode).toBe(403);
      const error = ErrorBodySchema.parse(res.json()).error;
      expect(error.code).toBe("forbidden");
      expect(error.message).toMatch(/root on the host.*runtime runsc/);
      expect(error.details).toEqual({ runtime: "runc", docker: true });
    }
    expect(h.reached).toEqual([]);
    expect(h.inserted).toEqual([]);
  });

  it("with --allow-runc-docker the admin gets past the check; a key still gets 403", async () => {
    h = await harness({ allowRuncDocker: true });
    const refused = await create(h.app, h.key, { runtime: "runc", docker: true });
    expect(refused.statusCode).toBe(403);
    expect(ErrorBodySchema.parse(refused.json()).error.message).toMatch(/API keys never/);
    expect(h.reached).toEqual([]);

    const allowed = await create(h.app, h.admin, { runtime: "runc", docker: true });
    expect(ErrorBodySchema.parse(allowed.json()).error.message).toMatch(/test stops the create/);
    expect(h.reached).toEqual(["image docker"]);
    expect(h.inserted).toMatchObject([{ runtime: "runc", docker: true }]);
  });

  it("docker: true with no runtime is gVisor (runsc), for a key too", async () => {
    h = await harness();
    const res = await create(h.app, h.key, { docker: true });
    expect(ErrorBodySchema.parse(res.json()).error.message).toMatch(/test stops the create/);
    expect(h.inserted).toMatchObject([{ runtime: "runsc", docker: true, image: "docker" }]);
  });
});
