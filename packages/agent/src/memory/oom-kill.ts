import { readdir, readFile } from "node:fs/promises";
import { sendJson, type Router } from "../router.js";
import { noteGuardKill } from "./oom-witness.js";

const PAGE_BYTES = 4096;

interface Victim {
  pid: number;
  rssBytes: number;
  command: string;
}

/** Resident bytes and command of a process, or undefined once it is gone. */
async function probe(pid: number): Promise<Victim | undefined> {
  try {
    const statm = await readFile(`/proc/${pid}/statm`, "utf8");
    const comm = await readFile(`/proc/${pid}/comm`, "utf8");
    return { pid, rssBytes: Number(statm.split(" ")[1]) * PAGE_BYTES, command: comm.trim() };
  } catch {
    return undefined;
  }
}

/**
 * The sandbox's OOM killer, for gVisor: there the host's kernel can only kill the whole sandbox,
 * so the daemon watches the sandbox's memory from outside and, past the limit, has the agent
 * kill the process with the most resident memory, as the kernel would. Init, the agent and its
 * helper are never chosen.
 */
export function registerMemoryRoutes(router: Router, spared: () => number[]): void {
  router.on("POST", "/memory/oom-kill", async (_req, res) => {
    const keep = new Set([1, process.pid, process.ppid, ...spared()]);
    const pids = (await readdir("/proc")).filter((e) => /^\d+$/.test(e)).map(Number);
    let victim: Victim | undefined;
    for (const pid of pids) {
      if (keep.has(pid)) continue;
      const p = await probe(pid);
      if (p && (!victim || p.rssBytes > victim.rssBytes)) victim = p;
    }
    if (victim) {
      try {
        noteGuardKill(victim.pid);
        process.kill(victim.pid, "SIGKILL");
      } catch {
        victim = undefined; // it ended by itself meanwhile
      }
    }
    sendJson(res, 200, { killed: victim ?? null });
  });
}
