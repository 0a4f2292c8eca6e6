import { z } from "zod";
import { parseReference } from "./image-reference.js";
import { NetworkPolicySchema, SandboxNetworkSchema } from "./network.js";
import { SnapshotRefSchema } from "./snapshots.js";

export const RUNTIMES = ["runsc", "runc"] as const;
export const RuntimeSchema = z.enum(RUNTIMES, {
  error: () => `runtime must be one of: ${RUNTIMES.join(", ")}`,
});
export type RuntimeName = z.infer<typeof RuntimeSchema>;

export const SANDBOX_STATES = [
  "creating",
  "running",
  /** Being paused: its agent is closing its connections, then it is checkpointed or frozen. */
  "pausing",
  /** Paused: no CPU; under runsc (no network) its state is on disk and its memory given back. */
  "paused",
  /** Being resumed: restored or thawed, its agent not yet answering. */
  "resuming",
  "terminating",
  "terminated",
  "failed",
] as const;
export const SandboxStateSchema = z.enum(SANDBOX_STATES);
export type SandboxState = z.infer<typeof SandboxStateSchema>;

/** The states of a pause and its way there and back: its agent does not answer. */
export const PAUSE_STATES = ["pausing", "paused", "resuming"] as const satisfies SandboxState[];
export const isPauseState = (state: SandboxState): boolean =>
  (PAUSE_STATES as readonly SandboxState[]).includes(state);

/** Limits on labels keep list filters cheap and rows small. */
export const LABEL_LIMITS = { count: 32, keyLength: 63, valueLength: 256 } as const;
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;

/**
 * A record whose keys are checked one by one, so the error names the bad key and says why
 * (zod's own record-key errors only say "Invalid key in record").
 */
function checkedRecord(
  value: z.ZodType<string>,
  limits: { count: number; what: string },
  keyProblem: (key: string) => string | undefined,
) {
  return z.record(z.string(), value).superRefine((record, ctx) => {
    const keys = Object.keys(record);
    if (keys.length > limits.count)
      ctx.addIssue({ code: "custom", message: `at most ${limits.count} ${limits.what}` });
    for (const key of keys) {
      const problem = keyProblem(key);
      if (problem) ctx.addIssue({ code: "custom", path: [key], message: problem });
    }
  });
}

export const LabelsSchema = checkedRecord(
  z
    .string()
    .max(
      LABEL_LIMITS.valueLength,
      `label values are at most ${LABEL_LIMITS.valueLength} characters`,
    ),
  { count: LABEL_LIMITS.count, what: "labels" },
  (key) =>
    key.length > LABEL_LIMITS.keyLength
      ? `label keys are at most ${LABEL_LIMITS.keyLength} characters`
      : LABEL_KEY.test(key)
        ? undefined
        : "label keys are letters, digits, '.', '_', '-' and '/'",
);

export const ENV_LIMITS = { count: 256, valueLength: 32 * 1024 } as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const EnvSchema = checkedRecord(
  z
    .string()
    .max(ENV_LIMITS.valueLength, `env values are at most ${ENV_LIMITS.valueLength} characters`)
    .refine((v) => !v.includes("\0"), "env values cannot contain NUL"),
  { count: ENV_LIMITS.count, what: "env variables" },
  (key) =>
    ENV_NAME.test(key)
      ? undefined
      : "env names are letters, digits and '_', not starting with a digit",
);

/** The name of a built-in or imported image (one path component, stored under this name). */
export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const LocalImageNameSchema = z
  .string()
  .regex(IMAGE_NAME, "image names are 1-64 of a-z, 0-9, '.', '_', '-', starting alphanumeric");

/**
 * An image: a built-in or imported one by name, or a registry reference (`python:3.12-slim`,
 * `ghcr.io/org/app:1`, `name@sha256:...`), which is pulled when it is not stored.
 */
export const ImageNameSchema = z
  .string()
  .max(512, "image references are at most 512 characters")
  .superRefine((value, ctx) => {
    if (IMAGE_NAME.test(value)) return;
    try {
      parseReference(value);
    } catch (err) {
      ctx.addIssue({
        code: "custom",
        message: `image names are 1-64 of a-z, 0-9, '.', '_', '-', starting alphanumeric (built-in or imported), or registry references like python:3.12 or ghcr.io/org/app:1; ${(err as Error).message}`,
      });
    }
  });

export const SANDBOX_DEFAULTS = {
  image: "busybox",
  runtime: "runsc",
  cpu: 1,
  memoryMiB: 512,
  pidsLimit: 1024,
  /** The writable layer's size; sparse, so the host pays only for what is written. */
  diskMiB: 10 * 1024,
  timeoutSeconds: 300,
} as const;

/**
 * Cores a sandbox may be given. The quota is `cpu` × 100 ms per 100 ms period: below 0.01 the
 * kernel refuses it (under 1 ms). gVisor's boot and the agent's start need about a core-second,
 * and a create waits 30 s for them: measured here under runsc, 0.05 took about 27 s, 0.1 took
 * 10-11 s on a quiet host and up to 26 s on a busy one, 0.2 about 5 s. 0.2 keeps a wide margin.
 */
export const CPU_LIMITS = { min: 0.2, max: 64 } as const;
const cpuRange = `cpu must be from ${CPU_LIMITS.min} to ${CPU_LIMITS.max} cores (fractions allowed): below ${CPU_LIMITS.min} a sandbox cannot start in time`;

export const CreateSandboxRequestSchema = z.strictObject({
  /** Default: busybox, or docker when `docker` is true. */
  image: ImageNameSchema.optional(),
  runtime: RuntimeSchema.default(SANDBOX_DEFAULTS.runtime),
  env: EnvSchema.default({}),
  /** Cores, fractional allowed (0.5 is half a core). */
  cpu: z
    .number(cpuRange)
    .min(CPU_LIMITS.min, cpuRange)
    .max(CPU_LIMITS.max, cpuRange)
    .default(SANDBOX_DEFAULTS.cpu),
  memoryMiB: z
    .number()
    .int()
    // Below this the sandbox's own agent (~20-30 MiB) does not fit and every call fails.
    .min(64, "memoryMiB must be at least 64: the sandbox's agent alone needs about 30 MiB")
    .max(256 * 1024)
    .default(SANDBOX_DEFAULTS.memoryMiB),
  pidsLimit: z
    .number()
    .int()
    .min(8)
    .max(1 << 20)
    .default(SANDBOX_DEFAULTS.pidsLimit),
  /** Size of the sandbox's writable filesystem; writing past it is ENOSPC inside. */
  diskMiB: z
    .number()
    .int()
    .min(64, "diskMiB must be at least 64")
    .max(1024 * 1024)
    .default(SANDBOX_DEFAULTS.diskMiB),
  /** The sandbox is terminated this long after creation. */
  timeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .default(SANDBOX_DEFAULTS.timeoutSeconds),
  labels: LabelsSchema.default({}),
  /**
   * Run a Docker engine inside (image "docker" unless another image with dockerd is named):
   * create returns once `docker info` answers.
   */
  docker: z.boolean().default(false),
  /** Egress: none (the default), all, or an allowlist; see NetworkPolicySchema. */
  network: NetworkPolicySchema.default({ egress: "none", allow: [], deny: [] }),
  /** A paused sandbox is resumed by `connect` and by any call that needs its agent. */
  autoResume: z.boolean().default(false),
  /**
   * Start from this snapshot (id or name): image, runtime, cpu, memory, processes, disk, Docker
   * and network are the snapshot's sandbox's (this request's are not used); env, labels,
   * timeout and autoResume are this request's.
   */
  snapshot: SnapshotRefSchema.optional(),
});
export type CreateSandboxRequest = z.input<typeof CreateSandboxRequestSchema>;
export type CreateSandboxSpec = z.output<typeof CreateSandboxRequestSchema>;

/**
 * What a sandbox's image says about running it (a pulled image, or one imported from a `docker
 * save` archive or an OCI layout), as it was when the sandbox was made: WorkingDir and User are
 * its processes' defaults; Entrypoint and Cmd are shown, not run (the agent is the sandbox's
 * first process).
 */
export const SandboxImageConfigSchema = z.object({
  entrypoint: z.array(z.string()).nullable(),
  cmd: z.array(z.string()).nullable(),
  workingDir: z.string().nullable(),
  user: z.string().nullable(),
});
export type SandboxImageConfig = z.infer<typeof SandboxImageConfigSchema>;

export const SandboxSchema = z.object({
  id: z.string(),
  image: z.string(),
  runtime: RuntimeSchema,
  state: SandboxStateSchema,
  cpu: z.number(),
  memoryMiB: z.number(),
  pidsLimit: z.number(),
  diskMiB: z.number(),
  /** Processes inside killed for going past memoryMiB. */
  oomKills: z.number(),
  timeoutSeconds: z.number(),
  labels: z.record(z.string(), z.string()),
  createdAt: z.string(),
  expiresAt: z.string(),
  terminatedAt: z.string().nullable(),
  /** Why the sandbox failed or was terminated, when it did not end by request. */
  reason: z.string().nullable(),
  agentVersion: z.string().nullable(),
  docker: z.boolean(),
  /** The egress policy and the sandbox's address; absent from older daemons. */
  network: SandboxNetworkSchema.optional(),
  /** Null for a built-in image or an imported root filesystem; absent from older daemons. */
  imageConfig: SandboxImageConfigSchema.nullable().optional(),
  /** Whether calls that need the agent resume a paused sandbox; absent from older daemons. */
  autoResume: z.boolean().optional(),
  /** When it was paused (its timeout clock stands still meanwhile); null when not paused. */
  pausedAt: z.string().nullable().optional(),
  /** The snapshot it was started from; null for none, absent from older daemons. */
  snapshot: z.string().nullable().optional(),
});
export type SandboxInfo = z.infer<typeof SandboxSchema>;

export const SandboxListSchema = z.object({ sandboxes: z.array(SandboxSchema) });

/** `label` is repeated `key=value`; all must match. */
export const ListSandboxesQuerySchema = z.strictObject({
  state: SandboxStateSchema.optional(),
  label: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .pipe(z.array(z.string().regex(/^[^=]+=.*$/, "label filters are key=value"))),
});
export type ListSandboxesFilter = {
  state?: SandboxState;
  labels?: Record<string, string>;
};

/** Moves a running sandbox's expiry to `timeoutSeconds` from now (E2B's setTimeout). */
export const SetTimeoutRequestSchema = z.strictObject({
  timeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600),
});
export type SetTimeoutRequest = z.infer<typeof SetTimeoutRequestSchema>;

export const SandboxIdParamsSchema = z.strictObject({
  id: z.string().regex(/^sb_[a-z0-9]{1,32}$/, "sandbox ids look like sb_…"),
});
