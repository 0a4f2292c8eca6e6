import { InvalidArgumentError, type Command } from "commander";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_HOST,
  DEFAULT_PORT,
  parseWarmPoolSpec,
  type WarmPoolSpec,
} from "@paddock/protocol";

/** A `--warm` value, parsed; commander names the flag in the error. */
function warmOption(value: string, all: WarmPoolSpec[] = []): WarmPoolSpec[] {
  try {
    return [...all, parseWarmPoolSpec(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the Paddock daemon (HTTP API on 127.0.0.1); needs root")
    .option(
      "--data-dir <dir>",
      `state, token, sandboxes and images (env PADDOCK_DATA_DIR, default ${DEFAULT_DATA_DIR})`,
    )
    .option(
      "--port <port>",
      `port to listen on, 0 for any free one (env PADDOCK_PORT, default ${DEFAULT_PORT})`,
      (v) => Number(v),
    )
    .option("--host <addr>", `address to bind (env PADDOCK_HOST, default ${DEFAULT_HOST})`)
    .option("--images-dir <dir>", "image store (env PADDOCK_IMAGES_DIR, default <data-dir>/images)")
    .option(
      "--port-bind-address <addr>",
      "where exposed sandbox ports listen (env PADDOCK_PORT_BIND_ADDRESS, default 127.0.0.1; ports need a token by default off loopback, and on loopback too once API keys exist)",
    )
    .option(
      "--allow-runc-docker",
      "let the admin token (never an API key) create Docker sandboxes under runc, which have root on the host: trusted users only (env PADDOCK_ALLOW_RUNC_DOCKER=1)",
    )
    .option(
      "--metrics-public",
      "serve GET /metrics (Prometheus) without a token; it names every sandbox (env PADDOCK_METRICS_PUBLIC=1; default: the admin token only)",
    )
    .option(
      "--no-sandbox-metrics",
      "leave the per-sandbox series (labelled by sandbox id) out of GET /metrics (env PADDOCK_SANDBOX_METRICS=0)",
    )
    .option(
      "--insecure-registry <host>",
      "allow pulls from this registry (host[:port]) over plain HTTP or unverified TLS; repeatable (env PADDOCK_INSECURE_REGISTRIES, comma-separated)",
      (v: string, all: string[] = []) => [...all, v],
    )
    .option(
      "--network-pool <cidr>",
      "IPv4 addresses for sandboxes with a network, a /30 each; /29 or larger (env PADDOCK_NETWORK_POOL, default 10.123.0.0/16)",
    )
    .option(
      "--network-router-netns <path>",
      "network namespace (e.g. /run/netns/NAME) where sandboxes' links, NAT and firewall live (env PADDOCK_NETWORK_ROUTER_NETNS, default the daemon's own)",
    )
    .option(
      "--network-allow-private <cidr>",
      "let sandboxes reach this private IPv4 range, refused by default; repeatable (env PADDOCK_NETWORK_ALLOW_PRIVATE, comma-separated)",
      (v: string, all: string[] = []) => [...all, v],
    )
    .option(
      "--warm <spec>",
      "keep sandboxes of a profile ready: IMAGE:RUNTIME=SIZE[,memory=MiB,cpu=N,disk=MiB,pids=N,docker=true,net=none|all|allowlist,allow=A;B,deny=A;B], e.g. busybox:runsc=4 or python:3.12-slim:runc=2,memory=1024; a create with that profile takes one at once; repeatable (env PADDOCK_WARM_POOLS, blank-separated)",
      warmOption,
    )
    .option(
      "--dns-upstream <ip[:port]>",
      "resolver for sandboxes' allowed names (env PADDOCK_DNS_UPSTREAM, default the first nameserver in /etc/resolv.conf)",
    )
    .option(
      "--e2b-port <port>",
      "also serve the E2B-compatible API (for the `e2b` SDK: E2B_API_URL=http://HOST:PORT/e2b, E2B_SANDBOX_URL=http://HOST:PORT/e2b/envd) on this port, 0 for any free one (env PADDOCK_E2B_PORT; default off)",
      (v) => Number(v),
    )
    .option("--no-ui", "do not serve the web console at /ui (env PADDOCK_UI=0)")
    .action(
      async (opts: {
        dataDir?: string;
        port?: number;
        host?: string;
        imagesDir?: string;
        allowRuncDocker?: boolean;
        metricsPublic?: boolean;
        sandboxMetrics: boolean;
        insecureRegistry?: string[];
        networkPool?: string;
        networkRouterNetns?: string;
        networkAllowPrivate?: string[];
        dnsUpstream?: string;
        warm?: WarmPoolSpec[];
        ui: boolean;
        e2bPort?: number;
      }) => {
        // Loaded here so client commands do not pay for the daemon's modules at startup.
        const { resolveConfig, startDaemon } = await import("@paddock/daemon");
        const {
          insecureRegistry,
          networkPool,
          networkRouterNetns,
          networkAllowPrivate,
          dnsUpstream,
          metricsPublic,
          sandboxMetrics,
          warm,
          ui,
          ...rest
        } = opts;
        const config = resolveConfig({
          ...rest,
          insecureRegistries: insecureRegistry,
          warmPools: warm,
          // Given flags only: the environment decides otherwise.
          metrics: {
            public: metricsPublic || undefined,
            perSandbox: sandboxMetrics ? undefined : false,
          },
          // commander's default for --no-ui is true; leave it to PADDOCK_UI unless the flag was given.
          ui: ui ? undefined : false,
          network: {
            pool: networkPool,
            routerNetns: networkRouterNetns,
            allowPrivate: networkAllowPrivate,
            dnsUpstream,
          },
        });
        const daemon = await startDaemon(config);
        // One JSON line on stdout tells scripts and tests where the daemon listens.
        const e2b = daemon.e2b ? { e2bUrl: daemon.e2b.url } : {};
        process.stdout.write(
          `${JSON.stringify({ url: daemon.url, dataDir: config.dataDir, ...e2b })}\n`,
        );
        let closing = false;
        const stop = () => {
          if (closing) return;
          closing = true;
          void daemon.close().then(() => process.exit(0));
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      },
    );
}
