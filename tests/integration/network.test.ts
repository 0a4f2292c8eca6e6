import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readlinkSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, type NetworkPolicyInput } from "paddock";
import { inPool, parsePool } from "../../packages/daemon/src/network/address-pool.js";
import {
  addressNetnsName,
  addressOfNetns,
  hostLink,
} from "../../packages/daemon/src/network/names.js";
import { DEFAULT_SPARES } from "../../packages/daemon/src/network/spares.js";
import { sandboxRuntimeFlags } from "../../packages/daemon/src/runtimes/index.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers, netnsNamed, networkLeftovers } from "../helpers/host.js";
import {
  FAKE_HOSTS,
  ROUTER_PORT,
  ROUTER_UPLINK,
  startFakeInternet,
  type FakeInternet,
} from "../helpers/net.js";
import { RUNTIMES } from "../helpers/paths.js";

// Every packet here stays on this machine: sandboxes' host ends live in a router namespace the
// test made, whose only route out is the test's fake internet (tests/helpers/net.ts).

/**
 * Probes from inside a sandbox, in parallel, each at most 2 s: `http://...` URLs give `ok:BODY`
 * (the first line), `http:STATUS`, `dns` (the name did not resolve) or `err:KIND` (refused, timed
 * out: not reached); `dns:NAME` gives `addr:A.B.C.D` or `dns`, `dns6:NAME` the same for IPv6.
 */
const PROBE = `
import concurrent.futures, json, socket, sys, urllib.error, urllib.request
def probe(target):
    if target.startswith("dns:"):
        try:
            return "addr:" + socket.gethostbyname(target[4:])
        except OSError:
            return "dns"
    if target.startswith("dns6:"):
        try:
            return "addr:" + socket.getaddrinfo(target[5:], 80, socket.AF_INET6)[0][4][0]
        except OSError:
            return "dns"
    try:
        with urllib.request.urlopen(target, timeout=2) as r:
            return "ok:" + r.read(200).decode(errors="replace").strip()
    except urllib.error.HTTPError as e:
        return "http:%d" % e.code
    except Exception as e:
        reason = getattr(e, "reason", e)
        return "dns" if isinstance(reason, socket.gaierror) else "err:" + type(reason).__name__
with concurrent.futures.ThreadPoolExecutor(len(sys.argv) - 1) as pool:
    print(json.dumps(dict(zip(sys.argv[1:], pool.map(probe, sys.argv[1:])))))
`;

async function probe(sandbox: Sandbox, targets: string[]): Promise<Record<string, string>> {
  // No proxy variables: urllib would honour them.
  const out = await (await sandbox.process.exec(["python3", "-c", PROBE, ...targets])).output();
  if (out.exitCode !== 0) throw new Error(`probe failed (${out.exitCode}): ${out.stderr}`);
  return JSON.parse(out.stdout) as Record<string, string>;
}

/** Something answered (a page or an HTTP error): the connection was made. */
const reached = (result: string | undefined) => /^(ok|http):/.test(result ?? "");
const page = (host: string, port = 80) => `http://${host}${port === 80 ? "" : `:${port}`}/host.txt`;

/** Namespaces named by an address of the test daemon's pool: sandboxes' networks and spares. */
const poolNamespaces = () =>
  netnsNamed("paddock-").filter((n) => inPool(parsePool(net.pool), addressOfNetns(n) ?? ""));

/** The interface index of an address's host end in the router, or undefined. */
function hostEndIndex(address: string): number | undefined {
  const out = spawnSync(
    "nsenter",
    [`--net=${net.routerNetns}`, "ip", "-j", "link", "show", "dev", hostLink(address)],
    { encoding: "utf8" },
  );
  if (out.status !== 0) return undefined;
  return (JSON.parse(out.stdout) as { ifindex: number }[])[0]?.ifindex;
}

/**
 * What is left of a sandbox's network (`address` and its host end's `ifindex` while it ran).
 * Its address may be a spare's by now: a spare's host end is a new link, with a new index (the
 * kernel never gives an index twice in a namespace), and its namespace goes with it.
 */
function addressLeftovers({ address, ifindex }: { address: string; ifindex?: number }): string[] {
  const index = hostEndIndex(address);
  if (index !== undefined && index !== ifindex) return [];
  return [
    ...(existsSync(`/run/netns/${addressNetnsName(address)}`) ? [addressNetnsName(address)] : []),
    ...(index === undefined ? [] : [hostLink(address)]),
  ];
}

let net: FakeInternet;
let daemon: TestDaemon;
beforeAll(async () => {
  net = await startFakeInternet();
  daemon = await startDaemon(undefined, net.daemonEnv);
});
afterAll(async () => {
  await daemon?.stop();
  // Its spares go with it (running sandboxes would keep theirs).
  if (net) expect(poolNamespaces()).toEqual([]);
  await net?.stop();
});

describe.each(RUNTIMES)("sandbox networking on %s", (runtime) => {
  const sandboxes: Record<"none" | "all" | "listed", Sandbox | undefined> = {
    none: undefined,
    all: undefined,
    listed: undefined,
  };
  const get = (which: keyof typeof sandboxes) => sandboxes[which]!;
  const create = (network: NetworkPolicyInput) =>
    Sandbox.create({ ...daemon.client, runtime, image: "debian", network });
  const ALLOWLIST: NetworkPolicyInput = {
    egress: "allowlist",
    allow: ["allowed.test", "203.0.113.0/24", "*.wild.test", "rebind.test"],
    deny: ["bad.wild.test"],
  };

  beforeAll(async () => {
    [sandboxes.none, sandboxes.all, sandboxes.listed] = await Promise.all([
      create({ egress: "none" }),
      create({ egress: "all" }),
      create(ALLOWLIST),
    ]);
  });
  afterAll(async () => {
    const ids = Object.values(sandboxes).flatMap((s) => (s ? [s.id] : []));
    const addresses: { address: string; ifindex?: number }[] = [];
    for (const sandbox of Object.values(sandboxes)) {
      const address = sandbox && (await sandbox.info()).network?.address;
      if (address) addresses.push({ address, ifindex: hostEndIndex(address) });
    }
    expect(addresses).toHaveLength(2);
    for (const sandbox of Object.values(sandboxes)) await sandbox?.terminate();
    // Checked before the router namespace goes (that would take the links with it); nothing
    // of a sandbox's network belongs in the daemon's own namespace when it has a router.
    expect(
      ids.flatMap((id) => [
        ...leftovers(daemon.dataDir, runtime, id),
        ...networkLeftovers(net.routerNetns, id),
        ...networkLeftovers(undefined, id),
      ]),
    ).toEqual([]);
    expect(addresses.flatMap(addressLeftovers)).toEqual([]);
  });

  it("egress none: only loopback, nothing reached", async () => {
    const none = get("none");
    const dev = (await (await none.process.exec(["cat", "/proc/net/dev"])).output()).stdout;
    const interfaces = dev
      .split("\n")
      .slice(2)
      .flatMap((line) => (line.includes(":") ? [line.split(":")[0]!.trim()] : []));
    expect(interfaces).toEqual(["lo"]);
    const info = await none.info();
    expect(info.network).toMatchObject({ egress: "none", allow: [], deny: [], address: null });
    const r = await probe(none, [
      page(FAKE_HOSTS.allowed),
      page(FAKE_HOSTS.other),
      "dns:allowed.test",
    ]);
    expect(Object.values(r).filter(reached)).toEqual([]);
    expect(r["dns:allowed.test"]).toBe("dns");
    // A sandbox without a network has no interface to give one to.
    await expect(none.network.update({ egress: "all" })).rejects.toThrow();
  });

  it("egress all: the fake internet by address and by name, with an address from the pool", async () => {
    const all = get("all");
    const { network } = await all.info();
    expect(network).toMatchObject({ egress: "all", allow: [], deny: [] });
    expect(network!.address).toMatch(
      new RegExp(`^${net.pool.split(".").slice(0, 3).join("\\.")}\\.`),
    );
    const r = await probe(all, [
      page(FAKE_HOSTS.allowed),
      page(FAKE_HOSTS.other),
      page(FAKE_HOSTS.third),
      page("allowed.test"),
      page("other.test"),
      page("a.wild.test"),
      "dns:nowhere.test",
      "dns6:allowed.test",
    ]);
    expect(r).toEqual({
      [page(FAKE_HOSTS.allowed)]: "ok:allowed",
      [page(FAKE_HOSTS.other)]: "ok:other",
      [page(FAKE_HOSTS.third)]: "ok:third",
      [page("allowed.test")]: "ok:allowed",
      [page("other.test")]: "ok:other",
      [page("a.wild.test")]: "ok:third",
      "dns:nowhere.test": "dns",
      // No IPv6 in sandboxes: the fake DNS server's AAAA answers are dropped.
      "dns6:allowed.test": "dns",
    });
    const v6 = (await (await all.process.exec(["cat", "/proc/net/if_inet6"])).output()).stdout;
    expect(v6.split("\n").filter((l) => l && !l.endsWith(" lo"))).toEqual([]);
    const resolv = (await (await all.process.exec(["cat", "/etc/resolv.conf"])).output()).stdout;
    expect(resolv).toMatch(/^nameserver 127\.0\.0\.1$/m);
  });

  it("egress all: the router, the daemon's port, the host, other sandboxes and metadata stay unreachable", async () => {
    const all = get("all");
    const listed = get("listed");
    const own = (await all.info()).network!.address!;
    const gateway = own.replace(/\d+$/, (n) => String(Number(n) - 1));
    const neighbour = (await listed.info()).network!.address!;
    // A server in the other sandbox, reachable from inside it: only the firewall is in the way.
    await listed.process.exec(["python3", "-m", "http.server", "8000"], {
      background: true,
      tag: "neighbour-http",
      cwd: "/etc",
    });
    await listed.process.waitForPort(8000, { timeoutMs: 10_000 });
    const daemonPort = Number(new URL(daemon.url).port);
    const hostAddresses = Object.values(networkInterfaces())
      .flat()
      .flatMap((a) => (a && a.family === "IPv4" && !a.internal ? [a.address] : []));
    const refused = [
      page(ROUTER_UPLINK, ROUTER_PORT),
      page(gateway, ROUTER_PORT),
      `http://${gateway}:${daemonPort}/`,
      `http://127.0.0.1:${daemonPort}/`,
      ...hostAddresses.map((a) => `http://${a}:${daemonPort}/`),
      `http://${neighbour}:8000/hostname`,
      page(FAKE_HOSTS.metadata),
      page(FAKE_HOSTS.private),
      // DNS rebinding: the names resolve, the addresses stay refused.
      page("rebind.test"),
      page("private.test"),
    ];
    const r = await probe(all, [...refused, "dns:rebind.test"]);
    expect(refused.filter((t) => reached(r[t]))).toEqual([]);
    expect(r["dns:rebind.test"]).toBe(`addr:${FAKE_HOSTS.metadata}`);
    // The same servers answer from their own namespaces: the refusals above are the firewall's.
    expect(
      await net.inRouter([
        "/bin/busybox",
        "wget",
        "-q",
        "-O",
        "-",
        page(ROUTER_UPLINK, ROUTER_PORT),
      ]),
    ).toBe("router\n");
    const inside = await probe(listed, ["http://127.0.0.1:8000/hostname"]);
    expect(reached(inside["http://127.0.0.1:8000/hostname"])).toBe(true);
  });

  it("allowlist: allowed names and CIDRs only; an allowed name's address only once resolved; deny wins", async () => {
    const listed = get("listed");
    expect((await listed.info()).network).toMatchObject(ALLOWLIST);
    // Before any lookup: a domain rule does not open its address.
    const before = await probe(listed, [page(FAKE_HOSTS.allowed)]);
    expect(reached(before[page(FAKE_HOSTS.allowed)])).toBe(false);
    const r = await probe(listed, [
      page("allowed.test"),
      page(FAKE_HOSTS.third),
      page("a.wild.test"),
      page("other.test"),
      page("third.test"),
      page("bad.wild.test"),
      page(FAKE_HOSTS.other),
      page("rebind.test"),
      "dns:rebind.test",
    ]);
    expect(r).toMatchObject({
      [page("allowed.test")]: "ok:allowed",
      [page(FAKE_HOSTS.third)]: "ok:third",
      [page("a.wild.test")]: "ok:third",
      // Names outside the allowlist do not resolve (third.test's address is allowed, its name is not).
      [page("other.test")]: "dns",
      [page("third.test")]: "dns",
      [page("bad.wild.test")]: "dns",
      "dns:rebind.test": `addr:${FAKE_HOSTS.metadata}`,
    });
    expect(reached(r[page(FAKE_HOSTS.other)])).toBe(false);
    expect(reached(r[page("rebind.test")])).toBe(false);
    // Resolved through the sandbox's DNS, the allowed name's address is now open by address too.
    const after = await probe(listed, [page(FAKE_HOSTS.allowed)]);
    expect(after[page(FAKE_HOSTS.allowed)]).toBe("ok:allowed");
  });

  it("an update applies to new connections at once (deny wins over allow), and back", async () => {
    const listed = get("listed");
    const targets = [page("allowed.test"), page(FAKE_HOSTS.third), page(FAKE_HOSTS.other)];
    const update = async (policy: NetworkPolicyInput) => {
      const start = Date.now();
      await listed.network.update(policy);
      expect(Date.now() - start).toBeLessThan(1000);
      return probe(listed, targets);
    };

    const denied = await update({
      egress: "allowlist",
      allow: ["allowed.test", "203.0.113.0/24"],
      deny: [FAKE_HOSTS.third, FAKE_HOSTS.allowed],
    });
    expect(Object.values(denied).filter(reached)).toEqual([]);
    expect((await listed.info()).network).toMatchObject({
      egress: "allowlist",
      deny: [FAKE_HOSTS.third, FAKE_HOSTS.allowed],
    });

    const all = await update({ egress: "all" });
    expect(Object.values(all)).toEqual(["ok:allowed", "ok:third", "ok:other"]);

    const none = await update({ egress: "none" });
    expect(Object.values(none).filter(reached)).toEqual([]);
    expect(none[page("allowed.test")]).toBe("dns");
    // Exposed ports go through the agent's tunnel, whatever the policy.
    const { url, token } = await listed.exposePort(8000);
    const res = await fetch(`${url}/hostname`, {
      headers: token ? { "x-paddock-port-token": token } : {},
    });
    expect(res.status).toBe(200);

    const back = await update(ALLOWLIST);
    expect(back).toEqual({
      [page("allowed.test")]: "ok:allowed",
      [page(FAKE_HOSTS.third)]: "ok:third",
      [page(FAKE_HOSTS.other)]: expect.stringMatching(/^err:/),
    });
  });

  it("pip installs a wheel from the fake internet's index", async () => {
    const all = get("all");
    const { wheel } = net;
    const install = await (
      await all.process.exec(
        [
          "python3",
          "-m",
          "pip",
          "install",
          "--no-cache-dir",
          "--disable-pip-version-check",
          "--break-system-packages",
          "--index-url",
          "http://allowed.test/simple/",
          "--trusted-host",
          "allowed.test",
          wheel.name,
        ],
        { timeoutMs: 60_000 },
      )
    ).output();
    expect(install.stderr).not.toMatch(/error/i);
    expect(install.exitCode).toBe(0);
    const imported = await (
      await all.process.exec([
        "python3",
        "-c",
        `import ${wheel.module}; print(${wheel.module}.GREETING)`,
      ])
    ).output();
    expect(imported.stdout).toBe(`${wheel.greeting}\n`);
  });

  it("after a daemon SIGKILL and restart: rules are made again, and a sandbox that died meanwhile leaves nothing", async () => {
    const doomed = await Sandbox.create({
      ...daemon.client,
      runtime,
      image: "busybox",
      network: { egress: "all" },
    });
    const doomedAddress = (await doomed.info()).network!.address!;
    const doomedEnd = { address: doomedAddress, ifindex: hostEndIndex(doomedAddress) };
    const spares = spareNamespaces().map((n) => {
      const address = addressOfNetns(n)!;
      return { address, ifindex: hostEndIndex(address) };
    });
    expect(spares.length).toBeGreaterThan(0);
    await daemon.kill9();
    // The doomed sandbox's container goes while no daemon watches.
    execFileSync(runtime, [
      ...sandboxRuntimeFlags(daemon.dataDir, runtime, doomed.id),
      "delete",
      "--force",
      doomed.id,
    ]);
    daemon = await daemon.restart();
    for (const which of ["none", "all", "listed"] as const)
      sandboxes[which] = await Sandbox.connect(get(which).id, daemon.client);

    expect((await Sandbox.connect(doomed.id, daemon.client).then((s) => s.info())).state).toBe(
      "failed",
    );
    expect(networkLeftovers(net.routerNetns, doomed.id)).toEqual([]);
    expect(addressLeftovers(doomedEnd)).toEqual([]);
    // The killed daemon's spares are gone too (the new daemon makes its own).
    expect(spares.flatMap(addressLeftovers)).toEqual([]);
    const r = await probe(get("all"), [page("other.test"), page(ROUTER_UPLINK, ROUTER_PORT)]);
    expect(r[page("other.test")]).toBe("ok:other");
    expect(reached(r[page(ROUTER_UPLINK, ROUTER_PORT)])).toBe(false);
    const listed = await probe(get("listed"), [page("allowed.test"), page(FAKE_HOSTS.other)]);
    expect(listed[page("allowed.test")]).toBe("ok:allowed");
    expect(reached(listed[page(FAKE_HOSTS.other)])).toBe(false);
  });
});

/** Namespaces of the pool that no sandbox's name stands for. */
const spareNamespaces = () => {
  const taken = new Set(
    netnsNamed("paddock-sb_").map((n) => readlinkSync(`/run/netns/${n}`, { encoding: "utf8" })),
  );
  return poolNamespaces().filter((n) => !taken.has(n));
};

/** Whether a spare is whole: its namespace is named before its veth end is moved in and addressed. */
const addressed = (spare: string) =>
  execFileSync("ip", ["-n", spare, "-4", "addr", "show", "eth0"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }).includes(`inet ${addressOfNetns(spare)}/30`);

const readySpares = () =>
  spareNamespaces().filter((n) => {
    try {
      return addressed(n);
    } catch {
      return false; // no eth0 in it yet
    }
  });

async function waitForSpares(): Promise<string[]> {
  for (let i = 0; i < 100 && readySpares().length < DEFAULT_SPARES; i++)
    await new Promise((r) => setTimeout(r, 100));
  return readySpares();
}

describe("spare networks", () => {
  const made: Sandbox[] = [];
  afterAll(async () => {
    for (const sandbox of made) await sandbox.terminate();
  });
  const create = async () => {
    const sandbox = await Sandbox.create({
      ...daemon.client,
      runtime: "runc",
      image: "debian",
      network: { egress: "all" },
    });
    made.push(sandbox);
    return { sandbox, address: (await sandbox.info()).network!.address! };
  };

  it("are ready once a sandbox had a network, reach nothing, and each goes whole to one create", async () => {
    await create();
    const spares = await waitForSpares();
    expect(spares).toHaveLength(DEFAULT_SPARES);
    for (const spare of spares) {
      // Its address is made, but its host end has no rules yet: dropped.
      const probed = execFileSync(
        "nsenter",
        [`--net=/run/netns/${spare}`, "python3", "-c", PROBE, page(FAKE_HOSTS.allowed)],
        { encoding: "utf8" },
      );
      const result = (JSON.parse(probed) as Record<string, string>)[page(FAKE_HOSTS.allowed)];
      expect(result).toMatch(/^err:/);
    }
    const taken = await create();
    expect(spares.map(addressOfNetns)).toContain(taken.address);
    expect(await probe(taken.sandbox, [page(FAKE_HOSTS.allowed)])).toEqual({
      [page(FAKE_HOSTS.allowed)]: "ok:allowed",
    });
    // Taken, it is made again elsewhere in the pool.
    expect(await waitForSpares()).toHaveLength(DEFAULT_SPARES);
  });
});

describe("the operator's opt-in for private ranges", () => {
  let optedIn: TestDaemon;
  let sandbox: Sandbox | undefined;
  beforeAll(async () => {
    // The main daemon's sandboxes are gone by now: this one may take over the router.
    optedIn = await startDaemon(undefined, {
      ...net.daemonEnv,
      PADDOCK_NETWORK_ALLOW_PRIVATE: "10.1.2.0/24",
    });
  });
  afterAll(async () => {
    await sandbox?.terminate();
    await optedIn?.stop();
    if (sandbox) expect(networkLeftovers(net.routerNetns, sandbox.id)).toEqual([]);
  });

  it("--network-allow-private opens that range only; metadata and the router stay refused", async () => {
    sandbox = await Sandbox.create({
      ...optedIn.client,
      runtime: "runc",
      image: "debian",
      network: { egress: "all" },
    });
    const r = await probe(sandbox, [
      page(FAKE_HOSTS.private),
      page("private.test"),
      page(FAKE_HOSTS.metadata),
      page(ROUTER_UPLINK, ROUTER_PORT),
    ]);
    expect(r[page(FAKE_HOSTS.private)]).toBe("ok:private");
    expect(r[page("private.test")]).toBe("ok:private");
    expect(reached(r[page(FAKE_HOSTS.metadata)])).toBe(false);
    expect(reached(r[page(ROUTER_UPLINK, ROUTER_PORT)])).toBe(false);
  });
});
