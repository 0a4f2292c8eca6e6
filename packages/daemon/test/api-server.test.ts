import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ErrorBodySchema,
  type CreateSandboxSpec,
  type ListSandboxesFilter,
  type SandboxInfo,
} from "@paddock/protocol";
import { buildApi } from "../src/api/server.js";
import type { PortService } from "../src/ports/port-service.js";
import { openDatabase } from "../src/state/database.js";
import { KeyStore } from "../src/state/key-store.js";
import { SandboxStore } from "../src/state/sandbox-store.js";
import { PaddockError } from "../src/errors.js";
import { ImageStore } from "../src/images/image-store.js";
import { ImageService } from "../src/images/image-service.js";
import { silentLogger } from "../src/logger.js";
import type { SandboxService } from "../src/sandboxes/sandbox-service.js";
import type { SandboxRecord } from "../src/state/sandbox-store.js";

const TOKEN = "pdk_test-token";
const auth = { authorization: `Bearer ${TOKEN}` };

const RECORD: SandboxRecord = {
  id: "sb_0123456789abcdef",
  image: "busybox",
  runtime: "runsc",
  state: "running",
  cpu: 1,
  memoryMiB: 512,
  pidsLimit: 1024,
  diskMiB: 10240,
  oomKills: 0,
  timeoutSeconds: 300,
  labels: { team: "ml" },
  env: { SECRET: "hunter2" },
  createdAt: new Date(0).toISOString(),
  expiresAt: new Date(300_000).toISOString(),
  terminatedAt: null,
  reason: null,
  agentVersion: "0.1.0",
  docker: false,
  owner: null,
};

/** Just enough of SandboxService for the routes; records what it was asked. */
class FakeSandboxService {
  created: CreateSandboxSpec[] = [];
  listed: ListSandboxesFilter[] = [];
  createError: unknown;

  async create(spec: CreateSandboxSpec): Promise<SandboxInfo> {
    if (this.createError) throw this.createError;
    this.created.push(spec);
    const { env: _env, network, ...info } = { ...RECORD, ...spec };
    return { ...info, network: { ...network, address: null } };
  }

  list(filter: ListSandboxesFilter): SandboxInfo[] {
    this.listed.push(filter);
    const { env: _env, ...info } = RECORD;
    return [info];
  }

  get(id: string): SandboxRecord {
    if (id !== RECORD.id) throw new PaddockError("sandbox_not_found", `no sandbox ${id}`);
    return RECORD;
  }

  async agentHealth(id: string) {
    this.get(id);
    return { status: "ok" as const, version: "0.1.0" };
  }

  async terminate(id: string): Promise<SandboxRecord> {
    return { ...this.get(id), state: "terminated", terminatedAt: new Date(1000).toISOString() };
  }

  /** The process WebSocket route listens for sandboxes that end; none do here. */
  onEnd(): void {}
}

describe("the HTTP API", () => {
  let dir: string;
  let app: FastifyInstance;
  let service: FakeSandboxService;
  let db: ReturnType<typeof openDatabase>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "paddock-api-"));
    service = new FakeSandboxService();
    db = openDatabase(path.join(dir, "state.db"));
    app = await buildApi({
      token: TOKEN,
      sandboxes: service as unknown as SandboxService,
      images: new ImageService(new ImageStore(path.join(dir, "images"))),
      ports: {} as unknown as PortService,
      keys: new KeyStore(db),
      store: new SandboxStore(db),
      log: silentLogger,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    service.created = [];
    service.listed = [];
    service.createError = undefined;
  });

  const errorOf = (body: string) => ErrorBodySchema.parse(JSON.parse(body)).error;

  describe("auth", () => {
    it("serves /health without a token", async () => {
      const res = await app.inject({ method: "GET", url: "/health" });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: "ok", version: expect.any(String) });
    });

    it("refuses /v1/sandboxes without a token", async () => {
      const res = await app.inject({ method: "GET", url: "/v1/sandboxes" });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res.body).code).toBe("unauthorized");
      expect(service.listed).toEqual([]);
    });

    it("refuses a wrong token", async () => {
      const res = await app.inject({
        method: "GET",
        url: "/v1/sandboxes",
        headers: { authorization: `Bearer ${TOKEN}x` },
      });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res.body).code).toBe("unauthorized");
      expect(errorOf(res.body).message).toMatch(/wrong/);
    });

    it("refuses a token sent without the Bearer scheme", async () => {
      const res = await app.inject({
        method: "GET",
        url: "/v1/sandboxes",
        headers: { authorization: TOKEN },
      });
      expect(res.statusCode).toBe(401);
    });

    it("does not run a create without a token", async () => {
      const res = await app.inject({ method: "POST", url: "/v1/sandboxes", payload: {} });
      expect(res.statusCode).toBe(401);
      expect(service.created).toEqual([]);
    });

    it("does not serve the OpenAPI document without a token", async () => {
      const res = await app.inject({ method: "GET", url: "/openapi.json" });
      expect(res.statusCode).toBe(401);
    });
  });

  describe("POST /v1/sandboxes", () => {
    it("creates with defaults filled in and returns 201 without env", async () => {
      const res = await app.inject({
        method: "POST",
        url: "/v1/sandboxes",
        headers: auth,
        payload: { runtime: "runc", env: { A: "1" } },
      });
      expect(res.statusCode).toBe(201);
      expect(service.created).toEqual([
        {
          runtime: "runc",
          env: { A: "1" },
          cpu: 1,
          memoryMiB: 512,
          pidsLimit: 1024,
          diskMiB: 10240,
          timeoutSeconds: 300,
          labels: {},
          docker: false,
          network: { egress: "none", allow: [], deny: [] },
          autoResume: false,
        },
      ]);
      const body = res.json();
      expect(body.runtime).toBe("runc");
      expect(body).not.toHaveProperty("env");
    });

    it("answers malformed JSON with 400 invalid_request", async () => {
      const res = await app.inject({
        method: "POST",
        url: "/v1/sandboxes",
        headers: { ...auth, "content-type": "application/json" },
        payload: '{"image": "busybox",',
      });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res.body).code).toBe("invalid_request");
      expect(service.created).toEqual([]);
    });

    it("answers an unknown runtime with 400 invalid_request naming runtime", async () => {
      const res = await app.inject({
        method: "POST",
        url: "/v1/sandboxes",
        headers: auth,
        payload: { runtime: "kata" },
      });
      expect(res.statusCode).toBe(400);
      const error = errorOf(res.body);
      expect(error.code).toBe("invalid_request");
      expect(error.message).toMatch(/runtime/);
      expect(service.created).toEqual([]);
    });

    it("answers an unknown key with 400 invalid_request", async () => {
      const res = await app.inject({
        method: "POST",
        url: "/v1/sandboxes",
        headers: auth,
        payload: { memory: 1 },
      });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res.body).code).toBe("invalid_request");
    });

    it("answers a body over the limit with 413 payload_too_large", async () => {
      const res = await app.inject({
        method: "POST",
        url: "/v1/sandboxes",
        headers: { ...auth, "content-type": "application/json" },
        payload: JSON.stringify({ labels: { k: "v".repeat(2 * 1024 * 1024) } }),
      });
      expect(res.statusCode).toBe(413);
      expect(errorOf(res.body).code).toBe("payload_too_large");
    });

    it("passes a service PaddockError through with its status", async () => {
      service.createError = new PaddockError("image_not_found", 'no image named "nope"');
      const res = await app.inject({
        method: "POST",
        url: "/v1/sandboxes",
        headers: auth,
        payload: { image: "nope" },
      });
      expect(res.statusCode).toBe(404);
      expect(errorOf(res.body)).toEqual({
        code: "image_not_found",
        message: 'no image named "nope"',
      });
    });

    it("hides an unexpected service error behind 500 internal", async () => {
      service.createError = new Error("ENOENT: /var/lib/paddock/secret");
      const res = await app.inject({
        method: "POST",
        url: "/v1/sandboxes",
        headers: auth,
        payload: {},
      });
      expect(res.statusCode).toBe(500);
      expect(errorOf(res.body).code).toBe("internal");
      expect(res.body).not.toContain("secret");
    });
  });

  describe("other sandbox routes", () => {
    it("lists with state and repeated label filters", async () => {
      const res = await app.inject({
        method: "GET",
        url: "/v1/sandboxes?state=running&label=team=ml&label=note=a=b",
        headers: auth,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().sandboxes).toHaveLength(1);
      expect(res.json().sandboxes[0]).not.toHaveProperty("env");
      expect(service.listed).toEqual([{ state: "running", labels: { team: "ml", note: "a=b" } }]);
    });

    it("rejects a label filter without '='", async () => {
      const res = await app.inject({
        method: "GET",
        url: "/v1/sandboxes?label=team",
        headers: auth,
      });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res.body).code).toBe("invalid_request");
    });

    it("gets a sandbox without its env", async () => {
      const res = await app.inject({
        method: "GET",
        url: `/v1/sandboxes/${RECORD.id}`,
        headers: auth,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().id).toBe(RECORD.id);
      expect(res.body).not.toContain("hunter2");
    });

    it("answers an unknown sandbox with 404 sandbox_not_found", async () => {
      const res = await app.inject({ method: "GET", url: "/v1/sandboxes/sb_nope", headers: auth });
      expect(res.statusCode).toBe(404);
      expect(errorOf(res.body).code).toBe("sandbox_not_found");
    });

    it("rejects a malformed sandbox id with 400", async () => {
      const res = await app.inject({ method: "GET", url: "/v1/sandboxes/..%2Fetc", headers: auth });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res.body).code).toBe("invalid_request");
    });

    it("terminates a sandbox without returning its env", async () => {
      const res = await app.inject({
        method: "DELETE",
        url: `/v1/sandboxes/${RECORD.id}`,
        headers: auth,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().state).toBe("terminated");
      expect(res.body).not.toContain("hunter2");
    });
  });

  describe("images", () => {
    it("lists the built-in images, not yet built", async () => {
      const res = await app.inject({ method: "GET", url: "/v1/images", headers: auth });
      expect(res.statusCode).toBe(200);
      expect(res.json().images).toEqual([
        { name: "busybox", source: "builtin", ready: false, createdAt: null },
        { name: "debian", source: "builtin", ready: false, createdAt: null },
        { name: "docker", source: "builtin", ready: false, createdAt: null },
      ]);
    });

    it("answers an unknown image with 404 image_not_found", async () => {
      const res = await app.inject({ method: "GET", url: "/v1/images/nope", headers: auth });
      expect(res.statusCode).toBe(404);
      expect(errorOf(res.body).code).toBe("image_not_found");
    });
  });

  it("serves the OpenAPI document with a token", async () => {
    const res = await app.inject({ method: "GET", url: "/openapi.json", headers: auth });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths).toHaveProperty("/v1/sandboxes");
    expect(doc.paths["/v1/sandboxes"]).toHaveProperty("post");
    expect(doc.paths).not.toHaveProperty("/openapi.json");
  });

  it("answers an unknown route with 404 route_not_found", async () => {
    const res = await app.inject({ method: "GET", url: "/v1/nope", headers: auth });
    expect(res.statusCode).toBe(404);
    const error = errorOf(res.body);
    expect(error.code).toBe("route_not_found");
    expect(error.message).toContain("/v1/nope");
  });
});
