import { isIP } from "node:net";
import path from "node:path";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_SANDBOX_LIMITS,
  parseWarmPoolSpec,
  WarmPoolSpecListSchema,
  type WarmPoolSpec,
} from "@paddock/protocol";
import { DEFAULT_NETWORK_POOL, parsePool } from "./network/address-pool.js";
import { hostDnsUpstream, parseUpstream } from "./network/dns-upstream.js";

/** Caps enforced inside each sandbox by its agent; exceeding one is a clear 4xx. */
export interface SandboxLimits {
  /** Bytes of one uploaded file. */
  maxUploadBytes: number;
  /** Processes started through Paddock and running at once. */
  maxProcesses: number;
  /** Output kept per process for clients that reattach. */
  processHistoryBytes: number;
}

export const DEFAULT_LIMITS: SandboxLimits = { ...DEFAULT_SANDBOX_LIMITS };

export interface DaemonConfig {
  /** Holds the token, the state database, sandboxes and (by default) images. */
  dataDir: string;
  /** The image store; tests share one so the debian image is built once. */
  imagesDir: string;
  host: string;
  /** 0 picks a free port; the daemon prints the one it got. */
  port: number;
  /** Where exposed sandbox ports listen on the host. */
  portBindAddress: string;
  /** How often expired sandboxes are looked for. */
  reapIntervalMs: number;
  /** How often running sandboxes are checked for a dead agent. */
  monitorIntervalMs: number;
  /** How often sandboxes' memory is looked at (gVisor's OOM killer acts on what it sees). */
  memoryGuardIntervalMs: number;
  /** `GET /metrics`: open without a token, and with series per sandbox (metrics/prometheus.ts). */
  metrics: { public: boolean; perSandbox: boolean };
  /** Caps each sandbox's agent enforces. */
  limits: SandboxLimits;
  /**
   * Lets the admin token (never an API key) create Docker sandboxes under runc. Off by default:
   * such a sandbox has root on the host (see sandboxes/create-policy.ts).
   */
  allowRuncDocker: boolean;
  /** Registries (host[:port]) pulled from over plain HTTP or unverified TLS. */
  insecureRegistries: string[];
  network: NetworkConfig;
  /** Sandboxes kept ready per profile (`--warm`, sandboxes/warm-pool.ts); the API can replace them. */
  warmPools: WarmPoolSpec[];
  /**
   * The port of the E2B-compatible API (e2b/server.ts), on `host`; null: not served. Off unless
   * asked for: it is a second listener that takes API keys, so it is opened only on purpose.
   */
  e2bPort: number | null;
  /** Serve the web console at /ui (`--no-ui`, PADDOCK_UI=0 turn it off). */
  ui: boolean;
}

/** Sandbox networking (see network/network-service.ts). */
export interface NetworkConfig {
  /** Sandbox addresses, a /30 each: an IPv4 CIDR of /29 or larger. */
  pool: string;
  /** A network namespace (path) where sandboxes' links, NAT and the firewall live; default: the daemon's own. */
  routerNetns?: string;
  /** IPv4 ranges taken out of the always-refused private ranges. */
  allowPrivate: string[];
  /** Where sandboxes' DNS queries go: `IP:PORT` (`[IPv6]:PORT`). */
  dnsUpstream: string;
}

/** An on/off setting from the environment; anything but these is a mistake worth stopping for. */
function envFlag(name: string): boolean {
  const value = (process.env[name] ?? "").trim().toLowerCase();
  if (value === "" || value === "0" || value === "false") return false;
  if (value === "1" || value === "true") return true;
  throw new Error(`${name} must be 1 or 0, got "${process.env[name]}"`);
}

/** A comma-separated list from the environment. */
function envList(name: string): string[] {
  return (process.env[name] ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean);
}

/**
 * `IP` or `IP:PORT` (`[IPv6]:PORT`) as `IP:PORT`, port 53 when none is given. Without one, the
 * first nameserver of the host's /etc/resolv.conf.
 */
export function resolveDnsUpstream(value: string | undefined): string {
  // No resolv.conf nameserver: the local resolver.
  const { host, port } = parseUpstream(value?.trim() || hostDnsUpstream() || "127.0.0.1");
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The warm pools: `input` as given, else PADDOCK_WARM_POOLS (specs in `--warm` syntax, separated
 * by blanks), checked together (one size per profile, at most WARM_POOL_LIMITS.pools).
 */
function resolveWarmPools(input: WarmPoolSpec[] | undefined): WarmPoolSpec[] {
  const from = input ? "warm pools (--warm)" : "PADDOCK_WARM_POOLS";
  const specs =
    input ??
    (process.env.PADDOCK_WARM_POOLS ?? "")
      .split(/\s+/)
      .filter(Boolean)
      .map((text) => {
        try {
          return parseWarmPoolSpec(text);
        } catch (err) {
          throw new Error(`${from}: ${(err as Error).message}`);
        }
      });
  const parsed = WarmPoolSpecListSchema.safeParse(specs);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "list"}: ${i.message}`);
    throw new Error(`${from}: ${issues.join("; ")}`);
  }
  return parsed.data;
}

/** `--e2b-port` or PADDOCK_E2B_PORT: a port (0 for any free one), or null when neither is set. */
function resolveE2bPort(input: number | null | undefined, env: string | undefined): number | null {
  const port = input !== undefined ? input : env?.trim() ? Number(env) : null;
  if (port !== null && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new Error(`the e2b port must be an integer from 0 to 65535, got ${port}`);
  }
  return port;
}

/** What a caller may set; anything left out comes from the environment or the defaults. */
export type ConfigInput = Partial<Omit<DaemonConfig, "network" | "metrics">> & {
  metrics?: Partial<DaemonConfig["metrics"]>;
  network?: Partial<NetworkConfig>;
};

export function resolveConfig(input: ConfigInput = {}): DaemonConfig {
  const env = process.env;
  const dataDir = path.resolve(input.dataDir ?? env.PADDOCK_DATA_DIR ?? DEFAULT_DATA_DIR);
  const port = input.port ?? (env.PADDOCK_PORT ? Number(env.PADDOCK_PORT) : DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`port must be an integer from 0 to 65535, got ${port}`);
  }
  return {
    dataDir,
    imagesDir: path.resolve(
      input.imagesDir ?? env.PADDOCK_IMAGES_DIR ?? path.join(dataDir, "images"),
    ),
    host: input.host ?? env.PADDOCK_HOST ?? DEFAULT_HOST,
    port,
    portBindAddress: input.portBindAddress ?? env.PADDOCK_PORT_BIND_ADDRESS ?? DEFAULT_HOST,
    reapIntervalMs: input.reapIntervalMs ?? 1000,
    monitorIntervalMs: input.monitorIntervalMs ?? Number(env.PADDOCK_MONITOR_INTERVAL_MS ?? 5000),
    memoryGuardIntervalMs: input.memoryGuardIntervalMs ?? 100,
    metrics: {
      public: input.metrics?.public ?? envFlag("PADDOCK_METRICS_PUBLIC"),
      perSandbox:
        input.metrics?.perSandbox ??
        (env.PADDOCK_SANDBOX_METRICS?.trim() ? envFlag("PADDOCK_SANDBOX_METRICS") : true),
    },
    limits: {
      maxUploadBytes:
        input.limits?.maxUploadBytes ??
        Number(env.PADDOCK_MAX_UPLOAD_BYTES ?? DEFAULT_LIMITS.maxUploadBytes),
      maxProcesses:
        input.limits?.maxProcesses ??
        Number(env.PADDOCK_MAX_PROCESSES ?? DEFAULT_LIMITS.maxProcesses),
      processHistoryBytes:
        input.limits?.processHistoryBytes ??
        Number(env.PADDOCK_PROCESS_HISTORY_BYTES ?? DEFAULT_LIMITS.processHistoryBytes),
    },
    allowRuncDocker: input.allowRuncDocker ?? envFlag("PADDOCK_ALLOW_RUNC_DOCKER"),
    insecureRegistries: input.insecureRegistries ?? envList("PADDOCK_INSECURE_REGISTRIES"),
    network: {
      pool: parsePool(input.network?.pool ?? env.PADDOCK_NETWORK_POOL ?? DEFAULT_NETWORK_POOL).cidr,
      routerNetns: input.network?.routerNetns ?? (env.PADDOCK_NETWORK_ROUTER_NETNS || undefined),
      allowPrivate: input.network?.allowPrivate ?? envList("PADDOCK_NETWORK_ALLOW_PRIVATE"),
      dnsUpstream: resolveDnsUpstream(input.network?.dnsUpstream ?? env.PADDOCK_DNS_UPSTREAM),
    },
    warmPools: resolveWarmPools(input.warmPools),
    e2bPort: resolveE2bPort(input.e2bPort, env.PADDOCK_E2B_PORT),
    ui: input.ui ?? (env.PADDOCK_UI?.trim() ? envFlag("PADDOCK_UI") : true),
  };
}
