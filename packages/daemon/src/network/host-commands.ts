import { spawn } from "node:child_process";
import { CommandError, run } from "../exec.js";
import { NftSession } from "./nft-session.js";

/**
 * How the daemon runs `ip`, `nft` and `sysctl`: as argument vectors, never through a shell.
 * Commands for the router namespace (where the sandboxes' host ends, forwarding, NAT and the
 * firewall live) run as `nsenter --net=ROUTER <argv>` when the operator named a router
 * namespace, plainly otherwise (the daemon's own namespace is the router). A seam for the
 * unit tests, which record commands instead of running them.
 */
export interface HostCommands {
  /** Runs `argv` in the router namespace, with `input` on its stdin; returns its stdout. */
  router(argv: readonly string[], input?: string): Promise<string>;
  /** Runs `argv` in the daemon's own namespace, with `input` on its stdin. */
  host(argv: readonly string[], input?: string): Promise<string>;
  /** A long-lived nft in the router namespace for the scripts; without it, each is `nft -f -`. */
  nft?: NftSession;
}

export function hostCommands(routerNetns: string | undefined): HostCommands {
  const host = (argv: readonly string[], input?: string) =>
    input === undefined
      ? run(argv[0]!, argv.slice(1), { timeoutMs: 20_000 })
      : runWithInput(argv, input);
  const inRouter = (argv: readonly string[]) =>
    routerNetns ? ["nsenter", `--net=${routerNetns}`, ...argv] : [...argv];
  return {
    host,
    router: (argv, input) => host(inRouter(argv), input),
    nft: new NftSession(inRouter(["nft", "-i"])),
  };
}

/** `run` with `input` written to stdin (nft reads its transaction there: `nft -f -`). */
function runWithInput(argv: readonly string[], input: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => {}); // a command that exits early closes its stdin: its exit code says why
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new CommandError(argv.join(" "), null, e.message, { cause: e }));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) return resolve(Buffer.concat(out).toString("utf8"));
      reject(new CommandError(argv.join(" "), code, Buffer.concat(err).toString("utf8")));
    });
    child.stdin.end(input);
  });
}
