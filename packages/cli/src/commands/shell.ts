import type { Command } from "commander";
import { Sandbox, type TerminalCreateOptions } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { collect, UsageError } from "../output.js";
import { exitCodeOf, processOptions, startOrExit } from "./processes.js";

/** The shell's exit code for a CLI ended by a signal: 128 + its number. */
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = {
  SIGINT: 130,
  SIGTERM: 143,
  SIGHUP: 129,
};

/** How long a CLI stopped by a signal waits for the sandbox's terminal to hang up. */
const HANG_UP_WAIT_MS = 1000;

/** A terminal session needs this CLI to run on a terminal itself. */
export function requireTerminal(usage: string): void {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UsageError(
      `${usage} needs a terminal on stdin and stdout; without one, use \`paddock exec -i\` to pipe input`,
    );
  }
}

/**
 * Runs a program on a terminal in the sandbox, joined to this terminal: raw mode (every key,
 * Ctrl-C included, goes to the sandbox), window size followed, the local terminal restored
 * however this ends. Returns the process's exit code, in the shell's convention.
 */
export async function runTerminal(
  sandbox: Sandbox,
  options: Omit<TerminalCreateOptions, "cols" | "rows" | "onData">,
  usage: string,
): Promise<number> {
  requireTerminal(usage);
  const { stdin, stdout } = process;
  const size = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  const term = await startOrExit(
    sandbox.pty.create({ ...options, ...size(), onData: (data) => stdout.write(data) }),
  );
  const wasRaw = stdin.isRaw;
  const restore = () => {
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
  };
  // The CLI itself stopped by a signal (not Ctrl-C typed: raw mode sends that as a byte): like
  // a dropped ssh session, the sandbox's terminal hangs up, so no shell is left behind in it.
  const onSignal = (signal: NodeJS.Signals) => {
    restore();
    const hangUp = term.kill("SIGHUP").catch(() => {});
    const bound = new Promise((r) => setTimeout(r, HANG_UP_WAIT_MS).unref());
    void Promise.race([hangUp, bound]).then(() => process.exit(SIGNAL_EXIT[signal] ?? 1));
  };
  const onInput = (chunk: Buffer) => void term.sendInput(chunk).catch(() => {});
  const onResize = () => void term.resize(size()).catch(() => {});
  process.on("exit", restore);
  for (const signal of Object.keys(SIGNAL_EXIT)) process.on(signal, onSignal);
  stdout.on("resize", onResize);
  try {
    stdin.setRawMode(true);
    stdin.on("data", onInput);
    stdin.resume();
    return exitCodeOf(await term.wait());
  } finally {
    stdin.off("data", onInput);
    stdin.pause();
    stdout.off("resize", onResize);
    for (const signal of Object.keys(SIGNAL_EXIT)) process.off(signal, onSignal);
    restore();
    process.off("exit", restore);
    term.disconnect();
  }
}

export function registerShellCommand(program: Command): void {
  program
    .command("shell")
    .description("open an interactive login shell in a sandbox, on a terminal")
    .argument("<id>", "sandbox id")
    .option("--cwd <dir>", "working directory in the sandbox")
    .option("--env <K=V>", "environment variable (repeatable)", collect, [])
    .option("--user <user>", "user name or uid in the sandbox")
    .addHelpText(
      "after",
      "\nThe shell is the user's login shell (/etc/passwd), else /bin/sh. Everything typed goes to\n" +
        "it, Ctrl-C included; the window size follows this terminal. The exit code is the shell's.\n" +
        "\nExamples:\n  paddock shell sb_123\n  paddock shell sb_123 --user nobody --cwd /tmp\n" +
        "  paddock exec -it sb_123 -- python3      (any program on a terminal)",
    )
    .action(async (id: string, opts) => {
      requireTerminal("paddock shell");
      const sandbox = await Sandbox.connect(id, cliClientOptions());
      const code = await runTerminal(sandbox, processOptions(opts), "paddock shell");
      process.exit(code);
    });
}
