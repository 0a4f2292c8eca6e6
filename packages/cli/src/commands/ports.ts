import type { Command } from "commander";
import { Sandbox } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, printTable, UsageError } from "../output.js";

const portNumber = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`${what} must be a port number, got "${v}"`);
  return n;
};

export function registerPortCommands(program: Command): void {
  program
    .command("expose")
    .description("reach a port of a sandbox's loopback from the host; prints the URL")
    .argument("<id>", "sandbox id")
    .argument("<port>", "port inside the sandbox", portNumber("port"))
    .option("--host-port <port>", "host port (default: a free one)", portNumber("--host-port"))
    .option(
      "--auth",
      "require a token on HTTP requests (header x-paddock-port-token or ?paddock_token=)",
    )
    .option("--json", "print JSON")
    .action(
      async (
        id: string,
        port: number,
        opts: { hostPort?: number; auth?: boolean; json?: boolean },
      ) => {
        const sandbox = await Sandbox.connect(id, cliClientOptions());
        const exposed = await sandbox.exposePort(port, {
          hostPort: opts.hostPort,
          auth: opts.auth,
        });
        if (opts.json) return printJson(exposed);
        process.stdout.write(`${exposed.url}\n`);
        if (exposed.token) process.stderr.write(`token: ${exposed.token}\n`);
      },
    );

  program
    .command("ports")
    .description("list a sandbox's exposed ports")
    .argument("<id>", "sandbox id")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }) => {
      const list = await (await Sandbox.connect(id, cliClientOptions())).listExposedPorts();
      if (opts.json) return printJson(list);
      printTable(
        ["PORT", "URL", "AUTH"],
        list.map((p) => [String(p.port), p.url, p.token ? "token" : "-"]),
      );
    });

  program
    .command("unexpose")
    .description("stop exposing a port; new connections are refused")
    .argument("<id>", "sandbox id")
    .argument("<port>", "port inside the sandbox", portNumber("port"))
    .action(async (id: string, port: number) => {
      await (await Sandbox.connect(id, cliClientOptions())).unexposePort(port);
    });
}
