import { z } from "zod";
import {
  SandboxListSchema,
  SandboxMetricsSchema,
  SandboxSchema,
  type SandboxInfo,
  type SandboxMetrics,
} from "@paddock/protocol";
import { DaemonClient } from "./daemon-client.js";
import { RestError } from "./errors.js";
import {
  TEMPLATE_LABEL,
  imageOf,
  metadataOf,
  metadataToLabels,
  provision,
  templateOf,
} from "./templates.js";

/**
 * The envd version sandboxes report; the SDK gates features on it. 0.5.7: octet-stream uploads
 * (streams are not buffered), closeStdin, no default user sent (envd's own default, `user`).
 * Below 0.6.2 on purpose: file metadata is not kept, and the SDK then says so itself.
 */
export const ENVD_VERSION = "0.5.7";
/** Metadata that picks the Paddock runtime (E2B has no such notion); kept as metadata too. */
export const RUNTIME_METADATA = "paddock.runtime";
const PAGE_LIMIT = { default: 100, max: 1000 };

export interface RestRequest {
  method: string;
  /** The path below the prefix, split: ["v2", "sandboxes", id, "connect"]. */
  segments: string[];
  query: URLSearchParams;
  body: unknown;
  client: DaemonClient;
  /** The caller's key, handed back as envdAccessToken (see server.ts). */
  key: string;
}

export interface RestAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const CreateBodySchema = z.object({
  templateID: z.string().min(1),
  timeout: z.number().int().positive().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  envVars: z.record(z.string(), z.string()).optional(),
});
const TimeoutBodySchema = z.object({ timeout: z.number().int().min(0) });
const ConnectBodySchema = z.object({ timeout: z.number().int().positive().optional() });

function parse<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    throw new RestError(400, `invalid ${what} request: ${issues.join("; ")}`);
  }
  return parsed.data;
}

/** E2B's two states: anything not paused and not ended is running. */
function stateOf(info: SandboxInfo): "running" | "paused" {
  return info.state === "paused" || info.state === "pausing" ? "paused" : "running";
}

/** Gone for E2B: ended, or on its way (a kill of one being torn down has nothing left to do). */
const ended = (info: SandboxInfo) =>
  info.state === "terminated" || info.state === "failed" || info.state === "terminating";

/** The sandbox's description in E2B's shape (ListedSandbox / SandboxDetail). */
function describe(info: SandboxInfo) {
  return {
    sandboxID: info.id,
    templateID: templateOf(info),
    clientID: "paddock",
    startedAt: info.createdAt,
    endAt: info.expiresAt,
    state: stateOf(info),
    cpuCount: Math.max(1, Math.ceil(info.cpu)),
    memoryMB: info.memoryMiB,
    diskSizeMB: info.diskMiB,
    envdVersion: ENVD_VERSION,
    metadata: metadataOf(info),
  };
}

/** What create and connect answer: how the SDK reaches the sandbox's envd. */
function handle(info: SandboxInfo, key: string) {
  return {
    sandboxID: info.id,
    templateID: templateOf(info),
    clientID: "paddock",
    envdVersion: ENVD_VERSION,
    // The SDK sends this on every envd call; it is the caller's own key, so those calls act as
    // that key in Paddock's API (see server.ts).
    envdAccessToken: key,
    domain: null,
  };
}

/** A live sandbox of the caller, or E2B's 404 (ended ones included, as E2B forgets them). */
/**
 * Paddock's reading now, in E2B's shape. E2B keeps a history between `start` and `end`; Paddock
 * reads the cgroup when asked, so the answer is one sample, whatever the range.
 */
function e2bMetric(m: SandboxMetrics) {
  return {
    timestamp: m.timestamp,
    cpuCount: m.cpu.limitCores,
    cpuUsedPct: m.cpu.limitCores > 0 ? (100 * m.cpu.usedCores) / m.cpu.limitCores : 0,
    memUsed: m.memory.workingSetBytes,
    memTotal: m.memory.limitBytes,
    diskUsed: m.disk.usedBytes,
    diskTotal: m.disk.limitBytes,
  };
}

async function live(client: DaemonClient, id: string): Promise<SandboxInfo> {
  const info = await client.json("GET", DaemonClient.sandbox(id), SandboxSchema);
  if (ended(info)) throw new RestError(404, `sandbox ${id} not found (it has ended)`);
  return info;
}

async function create(req: RestRequest): Promise<RestAnswer> {
  const body = parse(CreateBodySchema, req.body, "create");
  const metadata = body.metadata ?? {};
  const runtime = metadata[RUNTIME_METADATA];
  const info = await req.client.json("POST", "/v1/sandboxes", SandboxSchema, {
    json: {
      image: imageOf(body.templateID),
      ...(runtime ? { runtime } : {}),
      env: body.envVars ?? {},
      ...(body.timeout ? { timeoutSeconds: body.timeout } : {}),
      labels: { ...metadataToLabels(metadata), [TEMPLATE_LABEL]: body.templateID },
    },
  });
  try {
    await provision(req.client, info.id, body.templateID);
  } catch (err) {
    await req.client.call("DELETE", DaemonClient.sandbox(info.id)).catch(() => {});
    throw err;
  }
  return { status: 201, body: handle(info, req.key) };
}

async function list(req: RestRequest): Promise<RestAnswer> {
  const all = (await req.client.json("GET", "/v1/sandboxes", SandboxListSchema)).sandboxes;
  const states = (req.query.get("state") ?? "running,paused").split(",").filter(Boolean);
  const wanted = new URLSearchParams(req.query.get("metadata") ?? "");
  const template = req.query.get("template");
  const matching = all
    .filter((s) => !ended(s) && states.includes(stateOf(s)))
    .filter((s) => !template || templateOf(s) === template)
    .filter((s) => {
      const metadata = metadataOf(s);
      return [...wanted].every(([k, v]) => metadata[k] === v);
    })
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  const limit = Math.min(Number(req.query.get("limit") ?? PAGE_LIMIT.default), PAGE_LIMIT.max);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RestError(400, `limit must be a whole number from 1 to ${PAGE_LIMIT.max}`);
  }
  const token = req.query.get("nextToken");
  const start = token ? Number(Buffer.from(token, "base64url").toString()) : 0;
  if (!Number.isInteger(start) || start < 0)
    throw new RestError(400, "nextToken is not one this server gave");
  const page = matching.slice(start, start + limit);
  const headers: Record<string, string> = {};
  if (start + limit < matching.length) {
    headers["x-next-token"] = Buffer.from(String(start + limit)).toString("base64url");
  }
  return { status: 200, body: page.map(describe), headers };
}

async function connect(req: RestRequest, id: string): Promise<RestAnswer> {
  const body = parse(ConnectBodySchema, req.body, "connect");
  let info = await live(req.client, id);
  if (stateOf(info) === "paused") {
    info = await req.client.json("POST", DaemonClient.sandbox(id, "/resume"), SandboxSchema);
  }
  if (body.timeout) {
    // E2B's connect only ever extends the timeout.
    const left = (Date.parse(info.expiresAt) - Date.now()) / 1000;
    if (body.timeout > left) {
      info = await req.client.json("POST", DaemonClient.sandbox(id, "/timeout"), SandboxSchema, {
        json: { timeoutSeconds: body.timeout },
      });
    }
  }
  return { status: 200, body: handle(info, req.key) };
}

/** Routes E2B's control-plane API (the parts its SDK calls) to Paddock's. */
export async function routeRest(req: RestRequest): Promise<RestAnswer> {
  const s = req.segments[0] === "v2" ? req.segments.slice(1) : req.segments;
  const { method, client } = req;
  if (s[0] !== "sandboxes")
    throw new RestError(404, `no E2B route ${method} /${req.segments.join("/")}`);
  const id = s[1];
  const action = s[2];
  if (id === undefined) {
    if (method === "POST") return create(req);
    if (method === "GET") return list(req);
  } else if (action === undefined) {
    if (method === "GET") return { status: 200, body: describe(await live(client, id)) };
    if (method === "DELETE") {
      await live(client, id);
      await client.call("DELETE", DaemonClient.sandbox(id));
      return { status: 204 };
    }
  } else if (method === "POST" && s.length === 3) {
    if (action === "connect" || action === "resume") return connect(req, id);
    if (action === "timeout") {
      const { timeout } = parse(TimeoutBodySchema, req.body, "timeout");
      await live(client, id);
      if (timeout === 0) {
        await client.call("DELETE", DaemonClient.sandbox(id));
        return { status: 204 };
      }
      await client.call("POST", DaemonClient.sandbox(id, "/timeout"), {
        json: { timeoutSeconds: timeout },
      });
      return { status: 204 };
    }
    if (action === "pause") {
      if (stateOf(await live(client, id)) === "paused") {
        throw new RestError(409, `sandbox ${id} is already paused`);
      }
      await client.call("POST", DaemonClient.sandbox(id, "/pause"));
      return { status: 204 };
    }
  } else if (method === "GET" && action === "metrics" && s.length === 3) {
    await live(client, id);
    const now = await client.json(
      "GET",
      DaemonClient.sandbox(id, "/metrics"),
      SandboxMetricsSchema,
    );
    return { status: 200, body: [e2bMetric(now)] };
  }
  throw new RestError(
    501,
    `${method} /${req.segments.join("/")} is not supported by Paddock's E2B API (see the README's "E2B compatibility")`,
  );
}
