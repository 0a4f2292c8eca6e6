import { constants } from "node:os";
import { Readable } from "node:stream";
import type { Command } from "commander";
import { isPaddockError, Sandbox, type SandboxProcess } from "paddock";
import { SIGNALS, type ProcessExit } from "@paddock/protocol";
import { cliClientOptions } from "../client-options.js";
import { collect, parsePairs, printJson, printTable, UsageError } from "../output.js";
import { requireTerminal, runTerminal } from "./shell.js";

/** The shell's convention: the exit code, 128+N for a signal, 124 for a timeout (as `timeout`). */
export function exitCodeOf(exit: ProcessExit): number {
  if (exit.timedOut) return 124;
  if (exit.exitCode !== null) return exit.exitCode;
  const number = exit.signal ? constants.signals[exit.signal as NodeJS.Signals] : undefined;
  return 128 + (number ?? 0);
}

/** A shell's exit code for a command that could not start: not found, or not runnable. */
const START_EXIT: Record<string, number> = { command_not_found: 127, permission_denied: 126 };

/** Waits for a start; one that fails like a shell's exits like a shell (127, 126, message). */
export async function startOrExit<T>(start: Promise<T>): Promise<T> {
  try {
    return await start;
  } catch (err) {
    const code = isPaddockError(err) ? START_EXIT[err.code] : undefined;
    if (code === undefined) throw err;
    process.stderr.write(`paddock: ${(err as Error).message}\n`);
    process.exit(code);
  }
}

/** The options of `exec` and `shell` that say how a process runs. */
export function processOptions(opts: {
  cwd?: string;
  env: string[];
  user?: string;
  timeout?: number;
}) {
  return {
    cwd: opts.cwd,
    env: parsePairs(opts.env, "--env"),
    user:
      opts.user === undefined ? undefined : /^\d+$/.test(opts.user) ? Number(opts.user) : opts.user,
    timeoutMs: opts.timeout ? Math.round(opts.timeout * 1000) : undefined,
  };
}

/** Copies a process's output to this terminal, byte for byte, and returns its exit code. */
async function relay(proc: SandboxProcess): Promise<number> {
  const pump = async (from: AsyncIterable<Uint8Array>, to: NodeJS.WriteStream) => {
    for await (const chunk of from)
      if (!to.write(chunk)) await new Promise((r) => to.once("drain", r));
  };
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
  return exitCodeOf(await proc.wait());
}

const seconds = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got "${v}"`);
  return n;
};

export function registerProcessCommands(program: Command): void {
  program
    .command("exec")
    .description("run a command in a sandbox, stream its output, exit with its exit code")
    .argument("<id>", "sandbox id")
    .argument("<command...>", "the command and its arguments (put them after --)")
    .option("--cwd <dir>", "working directory in the sandbox")
    .option("--env <K=V>", "environment variable (repeatable)", collect, [])
    .option("--user <user>", "user name or uid in the sandbox")
    .option(
      "--timeout <seconds>",
      "kill the process group after this long (exit code 124)",
      seconds,
    )
    .option("-i, --interactive", "forward this terminal's stdin to the process, live")
    .option("-t, --tty", "run it on a terminal joined to this one (raw keys, window size)")
    .option("--background", "start it in the background and print its pid")
    .option("--tag <tag>", "name the process, to find it later by tag")
    .addHelpText(
      "after",
      "\nA command that does not exist exits 127, one that cannot run 126, as in a shell.\n" +
        "\nExamples:\n  paddock exec sb_123 -- sh -c 'echo $HOME'\n" +
        "  echo hi | paddock exec -i sb_123 -- cat          (stdin flows while it runs)\n" +
        "  paddock exec -it sb_123 -- python3              (an interactive program on a terminal)\n" +
        "  paddock exec --background --tag web sb_123 -- python3 -m http.server",
    )
    .action(async (id: string, argv: string[], opts) => {
      if (opts.tty) {
        if (opts.background) throw new UsageError("-t and --background cannot go together");
        requireTerminal("paddock exec -t");
      }
      const sandbox = await Sandbox.connect(id, cliClientOptions());
      if (opts.tty) {
        const code = await runTerminal(
          sandbox,
          { ...processOptions(opts), command: argv, tag: opts.tag },
          "paddock exec -t",
        );
        process.exit(code);
      }
      const proc = await startOrExit(
        sandbox.process.exec(argv, {
          ...processOptions(opts),
          background: Boolean(opts.background),
          tag: opts.tag,
          stdin: opts.interactive
            ? (Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>)
            : undefined,
        }),
      );
      if (opts.background) {
        process.stdout.write(`${proc.pid}\n`);
        process.exit(0);
      }
      const code = await relay(proc);
      // Input may still be open (a pipe whose writer sleeps): the exit does not wait for it.
      if (opts.interactive) process.exit(code);
      process.exitCode = code;
    });

  program
    .command("attach")
    .description("reattach to a process by pid or tag: its output since start, then live")
    .argument("<id>", "sandbox id")
    .argument("<process>", "pid or tag")
    .action(async (id: string, ref: string) => {
      const sandbox = await Sandbox.connect(id, cliClientOptions());
      process.exitCode = await relay(await sandbox.process.attach(ref));
    });

  program
    .command("ps")
    .description("list the processes started through Paddock in a sandbox")
    .argument("<id>", "sandbox id")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }) => {
      const list = await (await Sandbox.connect(id, cliClientOptions())).process.list();
      if (opts.json) return printJson(list);
      printTable(
        ["PID", "TAG", "STATE", "EXIT", "STARTED", "COMMAND"],
        list.map((p) => [
          String(p.pid),
          p.tag ?? "-",
          p.running ? "running" : "exited",
          p.exit ? String(exitCodeOf(p.exit)) : "-",
          p.startedAt,
          p.argv.join(" "),
        ]),
      );
    });

  program
    .command("kill")
    .description("send a signal to a process (and its group) in a sandbox")
    .argument("<id>", "sandbox id")
    .argument("<process>", "pid or tag")
    .option("--signal <name>", `one of ${SIGNALS.join(", ")}`, "SIGKILL")
    .action(async (id: string, ref: string, opts: { signal: string }) => {
      if (!(SIGNALS as readonly string[]).includes(opts.signal))
        throw new UsageError(`--signal must be one of ${SIGNALS.join(", ")}`);
      const sandbox = await Sandbox.connect(id, cliClientOptions());
      await sandbox.process.kill(ref, opts.signal as NodeJS.Signals);
    });
}
