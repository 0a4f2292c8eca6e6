import type { Command } from "commander";
import { isPaddockError, Sandbox, type SandboxMetrics } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, UsageError } from "../output.js";

const MiB = 2 ** 20;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)}M`;
const pct = (used: number, limit: number) =>
  limit > 0 ? `${((100 * used) / limit).toFixed(0)}%` : "-";

const HEADERS = [
  "ID",
  "STATE",
  "RUNTIME",
  "CPU",
  "MEM",
  "MEM%",
  "DISK",
  "PIDS",
  "OOM",
  "NET RX/TX",
];

/** One table row of a sandbox's metrics. */
function row(m: SandboxMetrics): string[] {
  return [
    m.sandboxId,
    m.state,
    m.runtime,
    `${m.cpu.usedCores.toFixed(2)}/${m.cpu.limitCores}`,
    `${mib(m.memory.workingSetBytes)}/${mib(m.memory.limitBytes)}`,
    pct(m.memory.workingSetBytes, m.memory.limitBytes),
    `${mib(m.disk.usedBytes)}/${mib(m.disk.limitBytes)}`,
    `${m.pids.current}/${m.pids.limit}`,
    String(m.oomKills),
    m.network ? `${mib(m.network.rxBytes)}/${mib(m.network.txBytes)}` : "-",
  ];
}

function table(rows: string[][]): string {
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return `${[line(HEADERS), ...rows.map(line)].join("\n")}\n`;
}

/** The metrics of every sandbox that has any; one that ended meanwhile is left out. */
async function allMetrics(): Promise<SandboxMetrics[]> {
  const options = cliClientOptions();
  const sandboxes = (await Sandbox.list(options)).filter(
    (s) => s.state !== "terminated" && s.state !== "failed",
  );
  const read = await Promise.all(
    sandboxes.map((s) =>
      Sandbox.metrics(s.id, options).catch((err: unknown) => {
        if (isPaddockError(err) && (err.status === 404 || err.status === 409)) return undefined;
        throw err;
      }),
    ),
  );
  return read.filter((m): m is SandboxMetrics => m !== undefined);
}

export function registerStatsCommands(program: Command): void {
  program
    .command("stats")
    .description(
      "a sandbox's CPU (cores over the last second), memory, disk, tasks, OOM kills and network bytes, read on the host",
    )
    .argument("<id>", "sandbox id")
    .option("--json", "print the metrics as JSON")
    .addHelpText("after", "\nExample:\n  paddock stats sb_0123456789abcdef --json")
    .action(async (id: string, opts: { json?: boolean }) => {
      const metrics = await Sandbox.metrics(id, cliClientOptions());
      if (opts.json) printJson(metrics);
      else process.stdout.write(table([row(metrics)]));
    });

  program
    .command("top")
    .description("a table of every sandbox's resource use, refreshed like top (Ctrl-C ends it)")
    .option("--json", "print every sandbox's metrics once as JSON")
    .option("--once", "print the table once")
    .option("--interval <seconds>", "seconds between refreshes", "2")
    .action(async (opts: { json?: boolean; once?: boolean; interval: string }) => {
      const seconds = Number(opts.interval);
      if (!(seconds >= 0.5 && seconds <= 3600))
        throw new UsageError(`--interval must be from 0.5 to 3600 seconds, got "${opts.interval}"`);
      if (opts.json) return printJson(await allMetrics());
      // On a terminal each refresh replaces the last, as top does; piped, tables follow each other.
      const clear = process.stdout.isTTY ? "\x1b[H\x1b[2J" : "";
      for (;;) {
        const metrics = await allMetrics();
        const at = new Date().toISOString().slice(11, 19);
        process.stdout.write(
          `${clear}paddock top - ${at} - ${metrics.length} sandboxes\n${table(metrics.map(row))}`,
        );
        if (opts.once) return;
        await new Promise((r) => setTimeout(r, seconds * 1000));
      }
    });
}
