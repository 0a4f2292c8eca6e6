import type { Command } from "commander";
import { Keys } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, printTable } from "../output.js";

export function registerKeyCommands(program: Command): void {
  const key = program
    .command("key")
    .description("API keys: each sees only the sandboxes it created (needs the admin token)");
  key
    .command("create")
    .description("create a key and print its secret (shown only once)")
    .argument("<name>", "key name")
    .option("--json", "print JSON")
    .action(async (name: string, opts: { json?: boolean }) => {
      const created = await new Keys(cliClientOptions()).create(name);
      if (opts.json) printJson(created);
      else process.stdout.write(`${created.key}\n`);
    });
  key
    .command("revoke")
    .description("revoke a key: it gets 401 at once")
    .argument("<name>", "key name")
    .action(async (name: string) => {
      await new Keys(cliClientOptions()).revoke(name);
    });
  key
    .command("ls")
    .description("list keys")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const list = await new Keys(cliClientOptions()).list();
      if (opts.json) return printJson(list);
      printTable(
        ["NAME", "CREATED", "REVOKED"],
        list.map((k) => [k.name, k.createdAt, k.revokedAt ?? "-"]),
      );
    });
}
