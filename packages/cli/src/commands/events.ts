import type { Command } from "commander";
import { Events, type SandboxEvent } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { UsageError } from "../output.js";

const line = (e: SandboxEvent) =>
  `${e.time}  ${e.type.padEnd(10)}  ${e.sandboxId}  ${e.runtime}${e.reason ? `  ${e.reason}` : ""}\n`;

export function registerEventCommands(program: Command): void {
  program
    .command("events")
    .description(
      "follow sandbox lifecycle events (created, paused, resumed, failed, terminated, expired) until Ctrl-C; an API key sees its own sandboxes'",
    )
    .option("--sandbox <id>", "only this sandbox's events")
    .option("--after <seq>", "first the events the daemon kept since this one (0: all kept)")
    .option("--json", "one JSON object per line")
    .addHelpText("after", "\nExample:\n  paddock events --json | jq -r .type")
    .action(async (opts: { sandbox?: string; after?: string; json?: boolean }) => {
      const after = opts.after === undefined ? undefined : Number(opts.after);
      if (after !== undefined && !(Number.isInteger(after) && after >= 0))
        throw new UsageError(`--after must be an event's seq (0 or more), got "${opts.after}"`);
      const stop = new AbortController();
      process.once("SIGINT", () => stop.abort());
      const events = Events.stream({
        ...cliClientOptions(),
        sandboxId: opts.sandbox,
        after,
        signal: stop.signal,
      });
      for await (const event of events)
        process.stdout.write(opts.json ? `${JSON.stringify(event)}\n` : line(event));
    });
}
