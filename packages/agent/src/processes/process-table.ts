import { readFile, stat } from "node:fs/promises";
import type { ExecSpec } from "@paddock/protocol";
import { agentStarts } from "../generation.js";
import { AgentError } from "../router.js";
import { loginShell, resolveUser } from "../users.js";
import { HistoryBudget } from "./event-history.js";
import { ManagedProcess } from "./managed-process.js";

export interface ProcessTableOptions {
  /** The environment every process starts from (the sandbox's env). */
  baseEnv: NodeJS.ProcessEnv;
  historyBytes: number;
  /** Output history of all processes together, in bytes. */
  totalHistoryBytes: number;
  killGraceMs: number;
  /** Ended processes kept so `wait` and reattach still work after exit. */
  keepEnded: number;
  /** Processes running at once. */
  maxRunning: number;
  /** The image's WorkingDir: the cwd of a process that names none. */
  defaultCwd?: string;
  /** The image's User (name, uid, name:group or uid:gid): the user of a process that names none. */
  defaultUser?: string;
}

/** The processes of this sandbox, by pid and by tag. */
export class ProcessTable {
  private readonly byPid = new Map<number, ManagedProcess>();
  private readonly ended: number[] = [];
  private readonly budget: HistoryBudget;

  constructor(private readonly options: ProcessTableOptions) {
    this.budget = new HistoryBudget(options.totalHistoryBytes);
  }

  async start(spec: ExecSpec): Promise<ManagedProcess> {
    const running = this.list().filter((p) => p.running).length;
    if (running >= this.options.maxRunning) {
      throw new AgentError(
        "resource_exhausted",
        `${running} processes are running in this sandbox, the most allowed; wait for some to end or kill them`,
      );
    }
    if (spec.tag && this.find(spec.tag)?.running) {
      throw new AgentError("conflict", `a running process already has tag "${spec.tag}"`);
    }
    const { defaultCwd, defaultUser } = this.options;
    if (spec.cwd === undefined && defaultCwd) spec = { ...spec, cwd: defaultCwd };
    if (spec.cwd !== undefined) {
      const st = await stat(spec.cwd).catch(() => undefined);
      if (!st?.isDirectory())
        throw new AgentError(
          "file_not_found",
          `cwd "${spec.cwd}" is not a directory in the sandbox`,
        );
    }
    const env: NodeJS.ProcessEnv = { ...this.options.baseEnv };
    let ids: { uid?: number; gid?: number } = {};
    const imageUser =
      spec.user === undefined && defaultUser ? await imageUserOf(defaultUser) : undefined;
    if (imageUser) spec = { ...spec, user: imageUser.uid };
    if (spec.user !== undefined) {
      const user = await resolveUser(spec.user);
      ids = { uid: user.uid, gid: imageUser?.gid ?? user.gid };
      env.HOME = user.home;
      env.USER = user.name;
      env.LOGNAME = user.name;
    }
    // Programs on a terminal need to know what it understands; the request's env may say.
    if (spec.pty) env.TERM = "xterm-256color";
    Object.assign(env, spec.env);
    // A terminal with no command is a shell for the user (an interactive one: it is on a tty).
    if (spec.argv.length === 0) spec = { ...spec, argv: [await loginShell(spec.user)] };
    const proc = await ManagedProcess.start(spec, {
      env,
      ...ids,
      historyBytes: this.options.historyBytes,
      historyBudget: this.budget,
      killGraceMs: this.options.killGraceMs,
    });
    this.byPid.set(proc.pid, proc);
    void proc.done.then(() => this.retire(proc.pid));
    return proc;
  }

  /** A process by pid (digits) or tag; the newest one when a tag was reused. */
  find(ref: string): ManagedProcess | undefined {
    if (/^\d+$/.test(ref)) return this.byPid.get(Number(ref));
    let found: ManagedProcess | undefined;
    for (const proc of this.byPid.values()) if (proc.spec.tag === ref) found = proc;
    return found;
  }

  get(ref: string): ManagedProcess {
    const proc = this.find(ref);
    if (!proc) {
      // A restarted agent knows nothing of the processes its predecessor ran: they are lost.
      const lost =
        agentStarts > 1
          ? "; the sandbox's agent restarted, and processes started before that were lost"
          : "";
      throw new AgentError(
        "process_not_found",
        `no process "${ref}" in this sandbox${lost}; list them with \`paddock ps\``,
      );
    }
    return proc;
  }

  list(): ManagedProcess[] {
    return [...this.byPid.values()];
  }

  private retire(pid: number): void {
    this.ended.push(pid);
    while (this.ended.length > this.options.keepEnded) {
      const pid = this.ended.shift()!;
      this.byPid.get(pid)?.forget();
      this.byPid.delete(pid);
    }
  }
}

/**
 * An image's User as Docker reads it: `name`, `uid`, `name:group` or `uid:gid` (a group by name
 * from /etc/group). A uid with no passwd entry is allowed, as in `docker run --user 1234`.
 */
export async function imageUserOf(
  spec: string,
  files = { passwd: "/etc/passwd", group: "/etc/group" },
): Promise<{ uid: number; gid: number }> {
  const [userPart = "", groupPart] = spec.split(":", 2);
  const user = await resolveUser(
    /^\d+$/.test(userPart) ? Number(userPart) : userPart,
    files.passwd,
  );
  if (groupPart === undefined || groupPart === "") return { uid: user.uid, gid: user.gid };
  if (/^\d+$/.test(groupPart)) return { uid: user.uid, gid: Number(groupPart) };
  const groups = await readFile(files.group, "utf8").catch(() => "");
  for (const line of groups.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === groupPart && gid !== undefined && /^\d+$/.test(gid))
      return { uid: user.uid, gid: Number(gid) };
  }
  throw new AgentError(
    "invalid_request",
    `no group "${groupPart}" in the sandbox's /etc/group (the image's User is "${spec}")`,
  );
}
