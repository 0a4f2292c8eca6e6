import type { Command } from "commander";
import { Sandbox, Snapshots, type SnapshotInfo } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, printTable } from "../output.js";

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export function registerSnapshotCommands(program: Command): void {
  const snapshot = program
    .command("snapshot")
    .description(
      "snapshots of sandboxes: runsc (no network) keeps memory, processes and files; runc keeps files. Start one with `paddock create --snapshot NAME`",
    );
  snapshot
    .command("create")
    .description("snapshot a running sandbox (it keeps running) and print the snapshot's id")
    .argument("<id>", "sandbox id")
    .option("--name <name>", "a name to start sandboxes from it by")
    .option("--json", "print the snapshot as JSON")
    .addHelpText(
      "after",
      "\nExample:\n  paddock snapshot create sb_0123456789abcdef --name prepared\n  paddock create --snapshot prepared",
    )
    .action(async (id: string, opts: { name?: string; json?: boolean }) => {
      const sandbox = await Sandbox.connect(id, cliClientOptions());
      const taken = await sandbox.snapshot(opts.name === undefined ? {} : { name: opts.name });
      if (opts.json) printJson(taken);
      else process.stdout.write(`${taken.id}\n`);
    });
  snapshot
    .command("ls")
    .description("list snapshots")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const list = await new Snapshots(cliClientOptions()).list();
      if (opts.json) return printJson(list);
      printTable(
        ["ID", "NAME", "KIND", "RUNTIME", "IMAGE", "SIZE", "FROM", "CREATED"],
        list.map((s: SnapshotInfo) => [
          s.id,
          s.name ?? "-",
          s.kind,
          s.runtime,
          s.image,
          mib(s.sizeBytes),
          s.sandboxId,
          s.createdAt,
        ]),
      );
    });
  snapshot
    .command("rm")
    .description("delete snapshots (sandboxes started from them keep running)")
    .argument("<snapshots...>", "snapshot ids or names")
    .action(async (refs: string[]) => {
      const snapshots = new Snapshots(cliClientOptions());
      for (const ref of refs) process.stdout.write(`${(await snapshots.delete(ref)).id}\n`);
    });
}
