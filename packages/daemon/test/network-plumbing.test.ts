import { mkdtemp, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NetworkPolicySchema, type NetworkPolicyInput } from "@paddock/protocol";
import { freeLease, parsePool } from "../src/network/address-pool.js";
import {
  baseScript,
  cidr4,
  learnScript,
  removeSandboxScript,
  sandboxScript,
} from "../src/network/firewall.js";
import {
  addressNetnsName,
  addressOfNetns,
  hostLink,
  netnsName,
  netnsPath,
} from "../src/network/names.js";
import { NetworkService } from "../src/network/network-service.js";
import type { HostCommands } from "../src/network/host-commands.js";
import { CommandError } from "../src/exec.js";
import { PaddockError } from "../src/errors.js";
import { resolveDnsUpstream } from "../src/config.js";
import { silentLogger } from "../src/logger.js";

const ID = "sb_0123456789abcdef";
/** The first address of the tests' pool 198.18.0.0/24, and its host end. */
const ADDRESS = "198.18.0.2";
const LINK = "pd-c6120002";
const policy = (input: NetworkPolicyInput) => NetworkPolicySchema.parse(input);

describe("the address pool", () => {
  it("takes IPv4 CIDRs from /8 to /29, host bits cleared", () => {
    expect(parsePool("10.123.4.5/16")).toMatchObject({ cidr: "10.123.0.0/16", prefix: 16 });
    expect(parsePool("198.18.0.0/29").cidr).toBe("198.18.0.0/29");
    for (const bad of [
      "10.0.0.0/30",
      "10.0.0.0/32",
      "fd00::/64",
      "10.0.0.0",
      "x/16",
      "10.0.0.0/16/1",
    ])
      expect(() => parsePool(bad), bad).toThrow(/network pool/);
  });

  it("gives each sandbox a /30 (router .1, sandbox .2), skipping used ones, until full", () => {
    const pool = parsePool("198.18.0.0/29");
    expect(freeLease(pool, new Set())).toEqual({ router: "198.18.0.1", sandbox: "198.18.0.2" });
    expect(freeLease(pool, new Set(["198.18.0.2"]))).toEqual({
      router: "198.18.0.5",
      sandbox: "198.18.0.6",
    });
    expect(freeLease(pool, new Set(["198.18.0.2", "198.18.0.6"]))).toBeUndefined();
  });
});

describe("names", () => {
  it("of a network derive from its address, the host end within 15 characters", () => {
    expect(addressNetnsName(ADDRESS)).toBe("paddock-198.18.0.2");
    expect(hostLink(ADDRESS)).toBe(LINK);
    expect(hostLink("255.255.255.254")).toBe("pd-fffffffe");
    expect(addressOfNetns("paddock-198.18.0.2")).toBe(ADDRESS);
    expect(addressOfNetns(netnsName(ID))).toBeUndefined();
  });

  it("of a sandbox's namespace derive from its id", () => {
    expect(netnsName(ID)).toBe("paddock-sb_0123456789abcdef");
    expect(netnsPath(ID)).toBe("/run/netns/paddock-sb_0123456789abcdef");
  });

  it("refuse anything but a sandbox id or an IPv4 address", () => {
    for (const bad of ["sb_A", "sb_x;y", "../x", "sb_", 'sb_a" }'])
      expect(() => netnsName(bad), bad).toThrow(/not a sandbox id/);
    for (const bad of ["198.18.0.2; x", "::1", "198.18.0", "../x"])
      expect(() => hostLink(bad), bad).toThrow(/not an IPv4 address/);
  });
});

describe("firewall scripts", () => {
  it("take only IPv4 addresses and CIDRs", () => {
    expect(cidr4("192.0.2.0/24")).toBe("192.0.2.0/24");
    for (const bad of ["192.0.2.1; flush ruleset", "192.0.2.0/33", "2001:db8::1", "a.b"])
      expect(() => cidr4(bad), bad).toThrow(/IPv4/);
  });

  it("refuse the always-refused ranges first, then deny, then the egress verdict", () => {
    const script = sandboxScript(
      ID,
      ADDRESS,
      policy({
        egress: "allowlist",
        allow: ["192.0.2.7", "198.51.100.0/24", "2001:db8::/32", "example.org"],
        deny: ["198.51.100.9"],
      }),
      { keepDns: false },
    );
    const rules = script.filter((l) => l.startsWith(`add rule inet paddock ${ID} `));
    expect(rules.map((r) => r.slice(`add rule inet paddock ${ID} `.length))).toEqual([
      "ip daddr @refused4 drop",
      "ip daddr @private4 ip daddr != @allowprivate4 drop",
      `ip daddr @${ID}_deny4 drop`,
      `ip daddr @${ID}_allow4 accept`,
      `ip daddr @${ID}_dns4 accept`,
      "drop",
    ]);
    // Names never reach nft; IPv6 entries neither (IPv6 is dropped whole).
    expect(script.join("\n")).not.toMatch(/example\.org|2001:db8/);
    expect(script).toContain(
      `add element inet paddock ${ID}_allow4 { 192.0.2.7/32, 198.51.100.0/24 }`,
    );
    expect(script).toContain(`flush set inet paddock ${ID}_dns4`);
    expect(script.at(-1)).toBe(`add element inet paddock sandboxes { "${LINK}" : jump ${ID} }`);
  });

  it("egress all accepts, none drops, and reconcile keeps what DNS opened", () => {
    const all = sandboxScript(ID, ADDRESS, policy({ egress: "all" }), { keepDns: true });
    expect(all).toContain(`add rule inet paddock ${ID} accept`);
    expect(all).not.toContain(`flush set inet paddock ${ID}_dns4`);
    const none = sandboxScript(ID, ADDRESS, policy({ egress: "none" }), { keepDns: false });
    expect(none).toContain(`add rule inet paddock ${ID} drop`);
    expect(none.some((l) => l.endsWith(" accept"))).toBe(false);
  });

  it("remove a sandbox whatever is left, in one script", () => {
    const script = removeSandboxScript(ID, ADDRESS);
    expect(script[0]).toBe("add table inet paddock");
    expect(script).toContain(`delete element inet paddock sandboxes { "${LINK}" }`);
    expect(script.slice(-4)).toEqual([
      `delete chain inet paddock ${ID}`,
      `delete set inet paddock ${ID}_allow4`,
      `delete set inet paddock ${ID}_deny4`,
      `delete set inet paddock ${ID}_dns4`,
    ]);
  });

  it("renew a learnt address's timeout: at least 60 s", () => {
    expect(learnScript(ID, ["192.0.2.7"], 5)).toEqual([
      `add element inet paddock ${ID}_dns4 { 192.0.2.7 timeout 60s }`,
      `delete element inet paddock ${ID}_dns4 { 192.0.2.7 }`,
      `add element inet paddock ${ID}_dns4 { 192.0.2.7 timeout 60s }`,
    ]);
    expect(learnScript(ID, ["192.0.2.7"], 300)[0]).toContain("timeout 300s");
  });

  it("keep the pool and the operator's opt-ins in the base table", () => {
    const script = baseScript({
      refused: ["198.18.0.0/24"],
      allowPrivate: ["10.9.0.0/16"],
      pool: "198.18.0.0/24",
    });
    expect(script).toContain("add element inet paddock refused4 { 198.18.0.0/24 }");
    expect(script).toContain("add element inet paddock allowprivate4 { 10.9.0.0/16 }");
    expect(script).toContain(
      'add rule inet paddock postrouting ip saddr 198.18.0.0/24 oifname != "pd-*" masquerade',
    );
  });
});

/** Records commands; `fail` makes the first command matching it fail. */
function recorder(fail?: RegExp): HostCommands & { calls: string[] } {
  const calls: string[] = [];
  let failed = false;
  const exec = async (where: string, argv: readonly string[], input?: string) => {
    const line = `${where}: ${argv.join(" ")}${input ? `\n${input}` : ""}`;
    calls.push(line);
    if (fail && !failed && fail.test(line)) {
      failed = true;
      throw new CommandError(argv.join(" "), 2, "RTNETLINK answers: File exists");
    }
    if (argv[0] === "ip" && argv.includes("-j")) return "[]";
    if (argv[0] === "nft" && argv[1] === "--version") return "nftables v1.0.6";
    return "";
  };
  return {
    calls,
    router: (argv, input) => exec("router", argv, input),
    host: (argv, input) => exec("host", argv, input),
  };
}

let netnsDir = "";
beforeEach(async () => {
  netnsDir = await mkdtemp(path.join(tmpdir(), "paddock-unit-netns-"));
});
afterEach(async () => {
  await rm(netnsDir, { recursive: true, force: true });
});

function service(commands: HostCommands, pool = "198.18.0.0/24", spares = 0) {
  return new NetworkService({
    pool,
    allowPrivate: [],
    log: silentLogger,
    commands,
    spares,
    netnsDir,
  });
}

/** What the sandbox's name in the namespace directory stands for. */
const named = (id: string) => readlink(path.join(netnsDir, netnsName(id))).catch(() => undefined);

describe("NetworkService", () => {
  it("sets a sandbox up: namespace and link, then its rules; addresses never given twice", async () => {
    const cmd = recorder();
    const net = service(cmd);
    const [a, b] = await Promise.all([
      net.setup(ID, policy({ egress: "all" })),
      net.setup("sb_fedcba9876543210", policy({ egress: "all" })),
    ]);
    expect(a).toEqual({ netnsPath: netnsPath(ID), address: ADDRESS });
    expect(b.address).toBe("198.18.0.6");
    const text = cmd.calls.join("\n");
    expect(text).toContain("router: sysctl -q -w net.ipv4.ip_forward=1");
    expect(text).toContain("netns add paddock-198.18.0.2");
    expect(text).toContain(`link add ${LINK} type veth peer name eth0 netns paddock-198.18.0.2`);
    expect(text).toContain("host: ip -n paddock-198.18.0.2 -batch -");
    expect(text).toContain("route add default via 198.18.0.1 dev eth0");
    expect(text).toContain(`add element inet paddock sandboxes { "${LINK}" : jump ${ID} }`);
    // The sandbox's name (what the runtime joins) stands for its address's namespace.
    expect(await named(ID)).toBe("paddock-198.18.0.2");
    expect(net.policy(ID)?.egress).toBe("all");
    expect(net.has(ID)).toBe(true);
  });

  it("undoes everything when a step of the setup fails, and frees the address", async () => {
    const cmd = recorder(/-batch -\nnetns add/);
    const net = service(cmd);
    const err = await net.setup(ID, policy({ egress: "all" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaddockError);
    expect((err as PaddockError).code).toBe("runtime_error");
    const text = cmd.calls.join("\n");
    expect(text).toContain(`link del ${LINK}\nnetns del paddock-198.18.0.2`);
    expect(text).toContain(`delete element inet paddock sandboxes { "${LINK}" }`);
    expect(text).toContain(`delete chain inet paddock ${ID}`);
    expect(await named(ID)).toBeUndefined();
    expect(net.has(ID)).toBe(false);
    expect((await net.setup(ID, policy({ egress: "all" }))).address).toBe(ADDRESS);
  });

  it("refuses a sandbox past the pool's size", async () => {
    const net = service(recorder(), "198.18.0.0/29");
    await net.setup("sb_a", policy({ egress: "all" }));
    await net.setup("sb_b", policy({ egress: "all" }));
    await expect(net.setup("sb_c", policy({ egress: "all" }))).rejects.toMatchObject({
      code: "resource_exhausted",
    });
  });

  it("updates in one transaction; a sandbox made without a network cannot get one", async () => {
    const cmd = recorder();
    const net = service(cmd);
    await expect(net.update("sb_none", policy({ egress: "all" }))).rejects.toMatchObject({
      code: "invalid_request",
      message:
        'the sandbox was created without a network: create it with network.egress "all" or "allowlist"',
    });
    await net.update("sb_none", policy({ egress: "none" }));
    await net.setup(ID, policy({ egress: "all" }));
    cmd.calls.length = 0;
    await net.update(ID, policy({ egress: "none" }));
    expect(cmd.calls).toHaveLength(1);
    expect(cmd.calls[0]).toMatch(/^router: nft -f -\n/);
    expect(net.policy(ID)?.egress).toBe("none");
  });

  it("learns IPv4 addresses only, and nothing for a sandbox without a network", async () => {
    const cmd = recorder();
    const net = service(cmd);
    await net.learn(ID, ["192.0.2.1"], 30);
    expect(cmd.calls).toEqual([]);
    await net.setup(ID, policy({ egress: "allowlist", allow: ["example.org"] }));
    cmd.calls.length = 0;
    await net.learn(ID, ["192.0.2.1", "2001:db8::1", "192.0.2.1", "x"], 30);
    expect(cmd.calls).toHaveLength(1);
    expect(cmd.calls[0]).toContain(`add element inet paddock ${ID}_dns4 { 192.0.2.1 timeout 60s }`);
    await net.teardown(ID);
    cmd.calls.length = 0;
    await net.learn(ID, ["192.0.2.1"], 30);
    expect(cmd.calls).toEqual([]);
  });

  it("tears down what is already gone without an error", async () => {
    const cmd: HostCommands = {
      router: async (argv) => {
        if (argv[0] === "ip")
          throw new CommandError("ip", 1, `Cannot find device "${LINK}"\nCommand failed -:1\n`);
        return "";
      },
      host: async () => "",
    };
    await symlink("paddock-198.18.0.2", path.join(netnsDir, netnsName(ID)));
    await service(cmd).teardown(ID);
    expect(await named(ID)).toBeUndefined();
  });

  it("keeps spares once a sandbox had a network: a create then only writes its rules", async () => {
    const cmd = recorder();
    const net = service(cmd, "198.18.0.0/24", 2);
    net.replenish(); // nothing yet: no sandbox had a network
    expect((await net.setup(ID, policy({ egress: "all" }))).address).toBe(ADDRESS);
    await new Promise((r) => setTimeout(r, 20));
    // Made only once the create is over, not while it goes on.
    expect(cmd.calls.filter((c) => c.includes("route add default"))).toHaveLength(1);
    net.replenish();
    await waitFor(() => cmd.calls.filter((c) => c.includes("route add default")).length === 3);

    cmd.calls.length = 0;
    const b = await net.setup("sb_b", policy({ egress: "all" }));
    expect(b.address).toBe("198.18.0.6");
    expect(await named("sb_b")).toBe("paddock-198.18.0.6");
    expect(cmd.calls[0]).toMatch(/^router: nft -f -\n/);
    expect(cmd.calls[0]).toContain(`"pd-c6120006" : jump sb_b`);
    // The spare taken is made again, at an address no one has.
    net.replenish();
    await waitFor(() => cmd.calls.some((c) => c.includes("netns add paddock-198.18.0.14")));

    cmd.calls.length = 0;
    await net.close();
    const removed = cmd.calls.join("\n");
    expect(removed).toContain("link del pd-c612000a\nnetns del paddock-198.18.0.10");
    expect(removed).toContain("link del pd-c612000e\nnetns del paddock-198.18.0.14");
    expect(removed).not.toContain("198.18.0.2\n");
  });

  it("takes the last address a spare is being made at rather than refusing a create", async () => {
    const cmd = recorder();
    const slowIp: HostCommands = {
      ...cmd,
      router: async (argv, input) => {
        if (argv[0] === "ip") await new Promise((r) => setTimeout(r, 50));
        return cmd.router(argv, input);
      },
    };
    const net = service(slowIp, "198.18.0.0/29", 2);
    await net.setup("sb_a", policy({ egress: "all" }));
    net.replenish();
    await waitFor(() => cmd.calls.some((c) => c.includes("netns add paddock-198.18.0.6")));
    // The pool's second address goes to a spare, still being made: the create waits for it.
    expect((await net.setup("sb_b", policy({ egress: "all" }))).address).toBe("198.18.0.6");
    expect(cmd.calls.filter((c) => c.includes("netns add paddock-198.18.0.6"))).toHaveLength(1);
  });

  it("reconciles: removes spares and names no running sandbox has, keeps the others", async () => {
    const cmd = recorder();
    const net = service(cmd);
    const file = (name: string) => writeFile(path.join(netnsDir, name), "");
    await file("paddock-198.18.0.2"); // a running sandbox's
    await symlink("paddock-198.18.0.2", path.join(netnsDir, "paddock-sb_run"));
    await file("paddock-198.18.0.6"); // a spare a killed daemon left
    await symlink("paddock-198.18.0.10", path.join(netnsDir, "paddock-sb_gone")); // ended
    await symlink("paddock-198.19.0.2", path.join(netnsDir, "paddock-sb_other")); // not ours
    await file("paddock-192.0.2.2"); // outside the pool: another daemon's
    await net.reconcile(
      [{ id: "sb_run", policy: policy({ egress: "all" }), address: ADDRESS }],
      (id) => id !== "sb_other",
    );
    expect((await readdir(netnsDir)).sort()).toEqual([
      "paddock-192.0.2.2",
      "paddock-198.18.0.2",
      "paddock-198.18.0.6", // a plain file here: the ip command that removes it is recorded
      "paddock-sb_other",
      "paddock-sb_run",
    ]);
    const text = cmd.calls.join("\n");
    expect(text).toContain("link del pd-c6120006\nnetns del paddock-198.18.0.6");
    expect(text).not.toMatch(/del (pd-c6120002|paddock-198\.18\.0\.2\b)/);
    // The running sandbox's link (missing here) is made again in its namespace.
    expect(text).toContain(`link add ${LINK} type veth peer name eth0 netns paddock-198.18.0.2`);
    expect(text).not.toContain("netns add paddock-198.18.0.2");
    const rules = cmd.calls.at(-1)!;
    expect(rules).toMatch(/^router: nft -f -\nflush map inet paddock sandboxes\n/);
    expect(rules).toContain(`add element inet paddock sandboxes { "${LINK}" : jump sb_run }`);
    expect(net.has("sb_run")).toBe(true);
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe("the DNS upstream setting", () => {
  it("is IP:PORT, port 53 unless given, IPv6 in brackets", () => {
    expect(resolveDnsUpstream("192.0.2.53")).toBe("192.0.2.53:53");
    expect(resolveDnsUpstream("127.0.0.1:5353")).toBe("127.0.0.1:5353");
    expect(resolveDnsUpstream("2001:db8::53")).toBe("[2001:db8::53]:53");
    expect(resolveDnsUpstream("[2001:db8::53]:5353")).toBe("[2001:db8::53]:5353");
    for (const bad of ["dns.example", "1.2.3.4:0", "1.2.3.4:99999"])
      expect(() => resolveDnsUpstream(bad), bad).toThrow(/DNS upstream/);
  });
});
