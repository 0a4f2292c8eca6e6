import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startFakeDns, type FakeDns } from "./fake-dns.js";
import { tinyWheel, type TinyWheel } from "./wheel.js";

const execFileAsync = promisify(execFile);
const BUSYBOX = "/bin/busybox";

/**
 * The fake internet's web hosts: each serves /host.txt holding its key (`allowed`), and the
 * first also the PEP 503 index under /simple/ and, when asked, /big.bin.
 */
export const FAKE_HOSTS = {
  allowed: "192.0.2.10",
  other: "198.51.100.10",
  third: "203.0.113.10",
  // Always refused to sandboxes, but served: only the firewall keeps a sandbox from them.
  metadata: "169.254.169.254",
  private: "10.1.2.3",
} as const;
export type FakeHost = keyof typeof FAKE_HOSTS;
/**
 * What the fake DNS server answers (NXDOMAIN for everything else); `*` is every name under
 * `.wild.test`. rebind.test and private.test resolve to always-refused addresses (DNS rebinding).
 */
export const TEST_NAMES = {
  "allowed.test": FAKE_HOSTS.allowed,
  "other.test": FAKE_HOSTS.other,
  "third.test": FAKE_HOSTS.third,
  "rebind.test": FAKE_HOSTS.metadata,
  "private.test": FAKE_HOSTS.private,
  "*": FAKE_HOSTS.third,
} as const;
/** The router's address on its link to the fake internet (always refused to sandboxes). */
export const ROUTER_UPLINK = "192.0.2.1";
/** A port the router namespace itself serves on (its /host.txt says `router`). */
export const ROUTER_PORT = 8080;

export interface FakeInternetOptions {
  /** Serve /big.bin of this many MiB (random bytes) on the `allowed` host; none by default. */
  bigFileMiB?: number;
}

export interface FakeInternet {
  /** The daemon's environment: router namespace, sandbox pool, DNS upstream. */
  daemonEnv: Record<string, string>;
  /** /run/netns/<name> of the router namespace, where the daemon puts sandboxes' host ends. */
  routerNetns: string;
  /** /run/netns/<name> of the fake internet. */
  internetNetns: string;
  /** The daemon's sandbox pool, a /24 in 198.18.0.0/15. */
  pool: string;
  dns: FakeDns;
  /** The wheel the `allowed` host's /simple/ index serves. */
  wheel: TinyWheel;
  /** `http://192.0.2.10/simple/`, for pip's --index-url. */
  indexUrl: string;
  /** Bytes of /big.bin (0 when not served). */
  bigFileBytes: number;
  /** Runs argv (no shell) in the router namespace; resolves to its stdout. */
  inRouter(argv: string[]): Promise<string>;
  /** Runs argv (no shell) in the fake internet namespace; resolves to its stdout. */
  inInternet(argv: string[]): Promise<string>;
  /** Kills the servers, removes both namespaces (and everything left in them) and the files. */
  stop(): Promise<void>;
}

let made = 0;

async function run(argv: string[]): Promise<string> {
  try {
    return (await execFileAsync(argv[0]!, argv.slice(1), { maxBuffer: 16 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${argv.join(" ")}: ${(e.stderr ?? "").trim() || e.message}`);
  }
}

/** argv run inside the namespace bound at `netns` (nsenter, not `ip netns exec`: PLATFORM.md). */
const inNetns = (netns: string, argv: string[]) => run(["nsenter", `--net=${netns}`, ...argv]);

/** Writes `mib` MiB of random bytes a MiB at a time. */
async function writeRandom(file: string, mib: number): Promise<void> {
  const out = createWriteStream(file);
  for (let i = 0; i < mib; i++) if (!out.write(randomBytes(1 << 20))) await once(out, "drain");
  out.end();
  await once(out, "finish");
}

/** The files each host serves: host.txt everywhere; the index, the wheel and big.bin on `allowed`. */
async function writeSites(
  root: string,
  wheel: TinyWheel,
  bigFileMiB: number,
): Promise<Record<FakeHost | "router", string>> {
  const dirs = {} as Record<FakeHost | "router", string>;
  for (const host of [...(Object.keys(FAKE_HOSTS) as FakeHost[]), "router" as const]) {
    dirs[host] = path.join(root, host);
    await mkdir(dirs[host]);
    await writeFile(path.join(dirs[host], "host.txt"), `${host}\n`);
  }
  // PEP 503: /simple/ lists projects, /simple/<project>/ links its files (busybox httpd serves
  // a directory's index.html, as text/html, which pip requires).
  const site = dirs.allowed;
  await mkdir(path.join(site, "simple", wheel.name), { recursive: true });
  await mkdir(path.join(site, "packages"));
  await writeFile(path.join(site, "packages", wheel.file), wheel.bytes);
  await writeFile(
    path.join(site, "simple", "index.html"),
    `<!DOCTYPE html><html><body><a href="${wheel.name}/">${wheel.name}</a></body></html>\n`,
  );
  const sha256 = createHash("sha256").update(wheel.bytes).digest("hex");
  await writeFile(
    path.join(site, "simple", wheel.name, "index.html"),
    `<!DOCTYPE html><html><body><a href="../../packages/${wheel.file}#sha256=${sha256}">${wheel.file}</a></body></html>\n`,
  );
  if (bigFileMiB > 0) await writeRandom(path.join(site, "big.bin"), bigFileMiB);
  return dirs;
}

/** busybox httpd in a namespace; resolves once it serves host.txt (asked from inside). */
async function startHttpd(netns: string, bind: string, dir: string): Promise<ChildProcess> {
  const child = spawn(
    "nsenter",
    [`--net=${netns}`, BUSYBOX, "httpd", "-f", "-p", bind, "-h", dir],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.on("error", () => {});
  const url = `http://${bind.includes(":") ? bind : `127.0.0.1:${bind}`}/host.txt`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`httpd on ${bind} exited: ${stderr.trim()}`);
    try {
      await inNetns(netns, [BUSYBOX, "wget", "-q", "-O", "/dev/null", url]);
      return child;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill();
        throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * The issue's test network, made with `ip` argv commands: a ROUTER namespace (given to the daemon
 * as its router: sandboxes' host ends, NAT and firewall live there) joined by a veth to a FAKE
 * INTERNET namespace with web servers on documentation addresses; the router's only route out is
 * the fake internet, so no packet of a sandbox can leave the machine even if a rule is wrong. The
 * router's forwarding is left off: turning it on is the daemon's job. A DNS server for the test
 * names runs in this process on 127.0.0.1 (the daemon forwards sandboxes' queries to it).
 *
 * Layout: router `up0` 192.0.2.1/24 <-> fake internet `down0` 192.0.2.10/24, with the other
 * FAKE_HOSTS addresses on its loopback; router default route via 192.0.2.10. The fake internet has no
 * route back to the pool: replies reach sandboxes only through the router's masquerade.
 */
export async function startFakeInternet(options: FakeInternetOptions = {}): Promise<FakeInternet> {
  const tag = `pdt-${process.pid}-${made++}`;
  const router = `${tag}-router`;
  const internet = `${tag}-inet`;
  const routerNetns = `/run/netns/${router}`;
  const internetNetns = `/run/netns/${internet}`;
  const children: ChildProcess[] = [];
  let root: string | undefined;
  let dns: FakeDns | undefined;
  const namespaces: string[] = [];

  const stop = async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, "exit");
        child.kill();
        await exited;
      }
    // Removing a namespace removes the links in it, the sandboxes' host ends included.
    for (const name of namespaces) await run(["ip", "netns", "delete", name]).catch(() => {});
    if (root) await rm(root, { recursive: true, force: true });
    await dns?.stop();
  };

  try {
    const wheel = tinyWheel();
    const bigFileMiB = options.bigFileMiB ?? 0;
    // "paddock-test-" in the name: the suite's audit reports it if it is ever left behind.
    root = await mkdtemp(path.join(tmpdir(), "paddock-test-net-"));
    const sites = await writeSites(root, wheel, bigFileMiB);
    for (const name of [router, internet]) {
      await run(["ip", "netns", "add", name]);
      namespaces.push(name);
      await run(["ip", "-n", name, "link", "set", "lo", "up"]);
    }
    await run([
      "ip",
      "-n",
      router,
      "link",
      "add",
      "up0",
      "type",
      "veth",
      "peer",
      "name",
      "down0",
      "netns",
      internet,
    ]);
    await run(["ip", "-n", router, "addr", "add", `${ROUTER_UPLINK}/24`, "dev", "up0"]);
    await run(["ip", "-n", router, "link", "set", "up0", "up"]);
    await run(["ip", "-n", internet, "addr", "add", `${FAKE_HOSTS.allowed}/24`, "dev", "down0"]);
    await run(["ip", "-n", internet, "link", "set", "down0", "up"]);
    for (const address of Object.values(FAKE_HOSTS).slice(1))
      await run(["ip", "-n", internet, "addr", "add", `${address}/32`, "dev", "lo"]);
    await run(["ip", "-n", router, "route", "add", "default", "via", FAKE_HOSTS.allowed]);

    for (const host of Object.keys(FAKE_HOSTS) as FakeHost[])
      children.push(await startHttpd(internetNetns, `${FAKE_HOSTS[host]}:80`, sites[host]));
    // On every address of the router, the sandboxes' host ends included: only the firewall
    // keeps sandboxes from it.
    children.push(await startHttpd(routerNetns, String(ROUTER_PORT), sites.router));
    dns = await startFakeDns(TEST_NAMES);

    const pool = `198.18.${process.pid % 256}.0/24`;
    return {
      daemonEnv: {
        PADDOCK_NETWORK_ROUTER_NETNS: routerNetns,
        PADDOCK_NETWORK_POOL: pool,
        PADDOCK_DNS_UPSTREAM: dns.upstream,
      },
      routerNetns,
      internetNetns,
      pool,
      dns,
      wheel,
      indexUrl: `http://${FAKE_HOSTS.allowed}/simple/`,
      bigFileBytes: bigFileMiB << 20,
      inRouter: (argv) => inNetns(routerNetns, argv),
      inInternet: (argv) => inNetns(internetNetns, argv),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
