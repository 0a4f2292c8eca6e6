import type { Command } from "commander";
import { WarmPools, type WarmPoolInfo } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, printTable } from "../output.js";

function printPools(pools: WarmPoolInfo[]): void {
  if (pools.length === 0) {
    process.stdout.write("no warm pools\n");
    return;
  }
  printTable(
    ["PROFILE", "SIZE", "READY", "FILLING", "LAST ERROR"],
    pools.map((p) => [
      p.spec,
      String(p.size),
      String(p.ready),
      String(p.filling),
      p.lastError ? `${p.lastErrorAt}: ${p.lastError}` : "-",
    ]),
  );
}

export function registerPoolCommands(program: Command): void {
  const pool = program
    .command("pool")
    .description(
      "warm pools: sandboxes kept ready per profile, taken by a create with that profile (needs the admin token)",
    );
  pool
    .command("ls")
    .description("list the warm pools: profile, size, ready, filling and the last fill error")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const pools = await new WarmPools(cliClientOptions()).list();
      if (opts.json) printJson(pools);
      else printPools(pools);
    });
  pool
    .command("set")
    .description(
      "replace the warm pools (no SPEC removes them all); kept profiles keep their sandboxes",
    )
    .argument(
      "[spec...]",
      "IMAGE:RUNTIME=SIZE[,memory=MiB,cpu=N,disk=MiB,pids=N,docker=true,net=none|all|allowlist,allow=A;B,deny=A;B], as `paddock serve --warm`",
    )
    .option("--json", "print JSON")
    .action(async (specs: string[], opts: { json?: boolean }) => {
      const pools = await new WarmPools(cliClientOptions()).set(specs);
      if (opts.json) printJson(pools);
      else printPools(pools);
    });
}
