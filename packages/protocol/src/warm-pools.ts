import { z } from "zod";
import { EGRESS_MODES, NetworkPolicySchema, type NetworkPolicy } from "./network.js";
import {
  CreateSandboxRequestSchema,
  ImageNameSchema,
  RUNTIMES,
  RuntimeSchema,
  SANDBOX_DEFAULTS,
  type CreateSandboxSpec,
} from "./sandbox.js";

/**
 * Warm pools: sandboxes the daemon keeps running per profile, so a create with that profile
 * takes a ready one instead of starting one. A pool's sandboxes belong to nobody (no API key
 * sees them) until a create claims one.
 */
export const WARM_POOL_LIMITS = { size: 64, pools: 32 } as const;

/**
 * What a pool's sandboxes are made with: the create fields a ready sandbox cannot change after
 * it started. A create matches a pool when all of them are equal (its image as named, after the
 * default image is filled in).
 */
export const WarmPoolProfileSchema = CreateSandboxRequestSchema.pick({
  runtime: true,
  cpu: true,
  memoryMiB: true,
  pidsLimit: true,
  diskMiB: true,
  docker: true,
  network: true,
}).extend({ image: ImageNameSchema });
export type WarmPoolProfile = z.output<typeof WarmPoolProfileSchema>;

/** One pool: its profile and how many ready sandboxes it keeps. */
export const WarmPoolSpecSchema = WarmPoolProfileSchema.extend({
  size: z
    .number()
    .int()
    .min(1, "size must be at least 1 (leave a pool out to have none)")
    .max(WARM_POOL_LIMITS.size, `size is at most ${WARM_POOL_LIMITS.size}`),
});
export type WarmPoolSpecInput = z.input<typeof WarmPoolSpecSchema>;
export type WarmPoolSpec = z.output<typeof WarmPoolSpecSchema>;

/** Two specs of one profile would be one pool with two sizes. */
function noDuplicateProfiles(pools: WarmPoolSpec[], ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  pools.forEach((pool, i) => {
    const key = warmPoolKey(pool);
    const first = seen.get(key);
    if (first !== undefined)
      ctx.addIssue({
        code: "custom",
        path: [i],
        message: `the same profile as pool ${first} (${formatWarmPoolSpec(pool)}); give each profile one size`,
      });
    else seen.set(key, i);
  });
}

export const WarmPoolSpecListSchema = z
  .array(WarmPoolSpecSchema)
  .max(WARM_POOL_LIMITS.pools, `at most ${WARM_POOL_LIMITS.pools} pools`)
  .superRefine(noDuplicateProfiles);

/** `PUT /v1/warm-pools`: replaces the daemon's pools (an empty list removes them all). */
export const SetWarmPoolsRequestSchema = z.strictObject({ pools: WarmPoolSpecListSchema });
export type SetWarmPoolsRequest = z.input<typeof SetWarmPoolsRequestSchema>;

/** A pool as `GET /v1/warm-pools` shows it. */
export const WarmPoolSchema = z.object({
  /** The profile in `--warm` syntax (`busybox:runsc=2,memory=256`). */
  spec: z.string(),
  profile: z.object({
    image: z.string(),
    runtime: RuntimeSchema,
    cpu: z.number(),
    memoryMiB: z.number(),
    pidsLimit: z.number(),
    diskMiB: z.number(),
    docker: z.boolean(),
    network: z.object({
      egress: z.enum(EGRESS_MODES),
      allow: z.array(z.string()),
      deny: z.array(z.string()),
    }),
  }),
  /** How many ready sandboxes it keeps. */
  size: z.number(),
  /** Running and unclaimed. */
  ready: z.number(),
  /** Being made now (the daemon makes one pool sandbox at a time). */
  filling: z.number(),
  /** Why the last fill failed, until a fill succeeds; fills are retried with a growing delay. */
  lastError: z.string().nullable(),
  lastErrorAt: z.string().nullable(),
});
export type WarmPoolInfo = z.infer<typeof WarmPoolSchema>;
export const WarmPoolListSchema = z.object({ pools: z.array(WarmPoolSchema) });

/** The profile a create asks for: its pool-relevant fields, the default image filled in. */
export function profileOfRequest(spec: CreateSandboxSpec): WarmPoolProfile {
  const { runtime, cpu, memoryMiB, pidsLimit, diskMiB, docker, network } = spec;
  const image = spec.image ?? (docker ? "docker" : SANDBOX_DEFAULTS.image);
  return { image, runtime, cpu, memoryMiB, pidsLimit, diskMiB, docker, network };
}

/**
 * A profile as one string: equal for equal profiles, whatever the order of allow and deny
 * entries. The daemon stores it in a pool sandbox's row.
 */
export function warmPoolKey(p: WarmPoolProfile): string {
  const { egress, allow, deny } = p.network;
  return JSON.stringify([
    p.image,
    p.runtime,
    p.cpu,
    p.memoryMiB,
    p.pidsLimit,
    p.diskMiB,
    p.docker,
    egress,
    [...allow].sort(),
    [...deny].sort(),
  ]);
}

/** `--warm` option keys and the profile fields they set. */
const OPTION_KEYS = ["memory", "cpu", "disk", "pids", "docker", "net", "allow", "deny"] as const;
type OptionKey = (typeof OPTION_KEYS)[number];
const SYNTAX =
  "IMAGE:RUNTIME=SIZE[,memory=MiB][,cpu=CORES][,disk=MiB][,pids=N][,docker=true][,net=none|all|allowlist][,allow=A;B][,deny=A;B]";

/** A number as written (no blanks, no hex, no empty string turning into 0). */
function numberOf(key: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new Error(`${key} must be a number, got "${value}"`);
  return Number(value);
}

/**
 * Parses a pool in `--warm` syntax: `IMAGE:RUNTIME=SIZE` then `,key=value` options, e.g.
 * `busybox:runsc=4`, `python:3.12-slim:runc=2,memory=1024,cpu=2,net=all`,
 * `localhost:5000/app:1:runsc=1`. The head is split from the right (an image reference may hold
 * ':' and '/', never '=' or ','): SIZE after the last '=', RUNTIME after the last ':'. Options
 * left out take create's defaults. Throws an Error saying what is wrong and what is expected.
 */
export function parseWarmPoolSpec(text: string): WarmPoolSpec {
  const [head = "", ...options] = text.trim().split(",");
  const eq = head.lastIndexOf("=");
  const colon = head.lastIndexOf(":", eq);
  if (eq < 0 || colon < 0)
    throw new Error(`expected ${SYNTAX}, e.g. busybox:runsc=4; got "${text}"`);
  const size = head.slice(eq + 1);
  const runtime = head.slice(colon + 1, eq);
  if (!RuntimeSchema.safeParse(runtime).success)
    throw new Error(
      `"${runtime}" is not a runtime (${RUNTIMES.join(", ")}): name one after the image, e.g. ${head.slice(0, eq)}:runsc=${size}`,
    );
  const input: Record<string, unknown> = {
    image: head.slice(0, colon),
    runtime,
    size: /^\d+$/.test(size) ? Number(size) : size,
  };
  const network: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const option of options) {
    const at = option.indexOf("=");
    const key = option.slice(0, Math.max(at, 0)).trim();
    const value = option.slice(at + 1).trim();
    if (at < 0 || !(OPTION_KEYS as readonly string[]).includes(key))
      throw new Error(
        `unknown option "${option}": options are ${OPTION_KEYS.map((k) => `${k}=`).join(", ")} (${SYNTAX})`,
      );
    if (seen.has(key)) throw new Error(`option ${key} is given twice`);
    seen.add(key);
    switch (key as OptionKey) {
      case "memory":
        input.memoryMiB = numberOf(key, value);
        break;
      case "cpu":
        input.cpu = numberOf(key, value);
        break;
      case "disk":
        input.diskMiB = numberOf(key, value);
        break;
      case "pids":
        input.pidsLimit = numberOf(key, value);
        break;
      case "docker":
        if (value !== "true" && value !== "false")
          throw new Error(`docker must be true or false, got "${value}"`);
        input.docker = value === "true";
        break;
      case "net":
        network.egress = value;
        break;
      case "allow":
      case "deny":
        network[key] = value.split(";").filter(Boolean);
        break;
    }
  }
  if (seen.has("net") || seen.has("allow") || seen.has("deny")) input.network = network;
  const parsed = WarmPoolSpecSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "pool"}: ${i.message}`);
    throw new Error(`${issues.join("; ")} (in "${text}")`);
  }
  return parsed.data;
}

const DEFAULT_NETWORK: NetworkPolicy = NetworkPolicySchema.parse({});

/** A pool in `--warm` syntax, options only where they differ from create's defaults. */
export function formatWarmPoolSpec(spec: WarmPoolProfile & { size?: number }): string {
  const d = { ...SANDBOX_DEFAULTS, docker: false };
  const options: string[] = [];
  if (spec.memoryMiB !== d.memoryMiB) options.push(`memory=${spec.memoryMiB}`);
  if (spec.cpu !== d.cpu) options.push(`cpu=${spec.cpu}`);
  if (spec.diskMiB !== d.diskMiB) options.push(`disk=${spec.diskMiB}`);
  if (spec.pidsLimit !== d.pidsLimit) options.push(`pids=${spec.pidsLimit}`);
  if (spec.docker !== d.docker) options.push(`docker=${spec.docker}`);
  const { egress, allow, deny } = spec.network;
  if (egress !== DEFAULT_NETWORK.egress) options.push(`net=${egress}`);
  if (allow.length > 0) options.push(`allow=${allow.join(";")}`);
  if (deny.length > 0) options.push(`deny=${deny.join(";")}`);
  const head = `${spec.image}:${spec.runtime}${spec.size === undefined ? "" : `=${spec.size}`}`;
  return [head, ...options].join(",");
}

/**
 * The daemon's agent route that replaces the env of processes started from then on (a claimed
 * pool sandbox gets its creator's env): `PUT` with the whole env as a JSON object. Names and
 * values are what the agent can pass to execve: no '=' or NUL in a name, no NUL in a value.
 */
export const AGENT_ENV_ROUTE = "/env";
export const AgentEnvSchema = z.record(
  z.string().regex(/^[^=\0]+$/, "env names are non-empty, without '=' or NUL"),
  z.string().refine((v) => !v.includes("\0"), "env values cannot contain NUL"),
);
export const AgentEnvAnswerSchema = z.object({ count: z.number() });
