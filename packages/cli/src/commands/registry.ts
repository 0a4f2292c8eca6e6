import type { Command } from "commander";
import { Registries } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, printTable, UsageError } from "../output.js";

/** Reads a password piped in (`--password-stdin`), without its final newline. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new UsageError(
      "--password-stdin reads the password from a pipe: `cat pw | paddock registry login ...`",
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

export function registerRegistryCommands(program: Command): void {
  const registry = program.command("registry").description("registry credentials for pulls");

  registry
    .command("login")
    .description(
      "check credentials against a registry and store them in the daemon (root-only file; never shown again)",
    )
    .argument("<host>", "registry host[:port], e.g. ghcr.io or docker.io")
    .requiredOption("-u, --username <user>", "user name")
    .option("--password-stdin", "read the password (or token) from stdin")
    .action(async (host: string, opts: { username: string; passwordStdin?: boolean }) => {
      // A password on the command line would be seen by every user of the host (ps).
      if (!opts.passwordStdin)
        throw new UsageError("give the password on stdin with --password-stdin");
      const password = await readStdin();
      if (!password) throw new UsageError("the password read from stdin is empty");
      await new Registries(cliClientOptions()).login(host, { username: opts.username, password });
      process.stdout.write(`logged in to ${host}\n`);
    });

  registry
    .command("logout")
    .description("forget the credentials stored for a registry")
    .argument("<host>", "registry host[:port]")
    .action(async (host: string) => {
      await new Registries(cliClientOptions()).logout(host);
      process.stdout.write(`${host}\n`);
    });

  registry
    .command("ls")
    .description("list registries with stored credentials or allowed over plain HTTP")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const list = await new Registries(cliClientOptions()).list();
      if (opts.json) return printJson(list);
      printTable(
        ["HOST", "LOGGED IN", "INSECURE"],
        list.map((r) => [r.host, String(r.loggedIn), String(r.insecure)]),
      );
    });
}
