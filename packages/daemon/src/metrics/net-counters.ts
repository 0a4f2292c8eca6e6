import { readFile, stat } from "node:fs/promises";
import { cgroupPids } from "./cgroup-stats.js";

export interface NetBytes {
  rxBytes: number;
  txBytes: number;
}

/**
 * `/proc/net/dev` as bytes received and sent per interface (the first and ninth numbers after
 * each `name:`), loopback left out.
 */
export function parseNetDev(text: string): Map<string, NetBytes> {
  const out = new Map<string, NetBytes>();
  for (const line of text.split("\n").slice(2)) {
    const at = line.indexOf(":");
    if (at < 0) continue;
    const name = line.slice(0, at).trim();
    const fields = line
      .slice(at + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (name === "lo" || fields.length < 9) continue;
    out.set(name, { rxBytes: fields[0]!, txBytes: fields[8]! });
  }
  return out;
}

/**
 * Reads a sandbox's network counters from the host: the counters of the interfaces in its
 * network namespace, as the kernel keeps them (the veth end inside it: what the sandbox
 * received and sent), seen through /proc/<pid>/net/dev of a process of the sandbox's cgroup that
 * is in that namespace. Works wherever the host end of the veth pair lives (the router
 * namespace may be another one), and reads nothing the sandbox could write.
 */
export class NetCounters {
  /** A pid last found in each sandbox's namespace: checked again on every read, one stat. */
  private readonly pids = new Map<string, number>();

  async read(id: string, netnsPath: string): Promise<NetBytes | undefined> {
    const ns = await stat(netnsPath).catch(() => undefined);
    if (!ns) return undefined;
    const known = this.pids.get(id);
    const pid =
      known !== undefined && (await inNamespace(known, ns.ino))
        ? known
        : await this.findPid(id, ns.ino);
    if (pid === undefined) return undefined;
    const text = await readFile(`/proc/${pid}/net/dev`, "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    const total = { rxBytes: 0, txBytes: 0 };
    for (const bytes of parseNetDev(text).values()) {
      total.rxBytes += bytes.rxBytes;
      total.txBytes += bytes.txBytes;
    }
    return total;
  }

  /** Forgets an ended sandbox. */
  forget(id: string): void {
    this.pids.delete(id);
  }

  private async findPid(id: string, ino: number): Promise<number | undefined> {
    this.pids.delete(id);
    for (const pid of cgroupPids(id)) {
      if (await inNamespace(pid, ino)) {
        this.pids.set(id, pid);
        return pid;
      }
    }
    return undefined;
  }
}

async function inNamespace(pid: number, ino: number): Promise<boolean> {
  const s = await stat(`/proc/${pid}/ns/net`).catch(() => undefined);
  return s?.ino === ino;
}
