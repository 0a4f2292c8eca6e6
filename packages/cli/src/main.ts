#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { PROTOCOL_VERSION } from "@paddock/protocol";
import { registerFileCommands } from "./commands/files.js";
import { registerDockerCommands } from "./commands/docker.js";
import { registerImageCommands } from "./commands/images.js";
import { registerKeyCommands } from "./commands/keys.js";
import { registerNetworkCommands } from "./commands/network.js";
import { registerPoolCommands } from "./commands/pools.js";
import { registerPortCommands } from "./commands/ports.js";
import { registerProcessCommands } from "./commands/processes.js";
import { registerRegistryCommands } from "./commands/registry.js";
import { registerSandboxCommands } from "./commands/sandboxes.js";
import { registerServe } from "./commands/serve.js";
import { registerShellCommand } from "./commands/shell.js";
import { registerSnapshotCommands } from "./commands/snapshots.js";
import { registerStatsCommands } from "./commands/stats.js";
import { registerEventCommands } from "./commands/events.js";
import { reportError } from "./output.js";

// A reader that went away (`paddock exec ... | head`) ends the CLI as SIGPIPE ends a Unix tool:
// quietly, with 128 + 13.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(141);
  throw err;
});

const program = new Command()
  .name("paddock")
  .description(
    "Paddock: sandboxes on gVisor (runsc) or runc.\n" +
      "Talks to the daemon at PADDOCK_URL (default http://127.0.0.1:7423) with PADDOCK_TOKEN\n" +
      "(default: the token file in the daemon's data dir).",
  )
  .version(PROTOCOL_VERSION)
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

registerServe(program);
registerSandboxCommands(program);
registerImageCommands(program);
registerRegistryCommands(program);
registerProcessCommands(program);
registerShellCommand(program);
registerFileCommands(program);
registerPortCommands(program);
registerNetworkCommands(program);
registerDockerCommands(program);
registerKeyCommands(program);
registerPoolCommands(program);
registerSnapshotCommands(program);
registerStatsCommands(program);
registerEventCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  process.exit(reportError(err));
}
