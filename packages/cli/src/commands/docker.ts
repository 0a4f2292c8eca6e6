import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { Sandbox } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, printTable, UsageError } from "../output.js";

interface ComposeOptions {
  local?: string;
  project?: string;
  hostNetwork?: boolean;
  build?: boolean;
  json?: boolean;
}

async function stackOf(id: string, path: string, opts: ComposeOptions) {
  if (!path.startsWith("/"))
    throw new UsageError("PATH is the compose file's absolute path inside the sandbox");
  const sandbox = await Sandbox.connect(id, cliClientOptions());
  if (opts.local) await sandbox.fs.writeFile(path, await readFile(opts.local));
  return sandbox;
}

export function registerDockerCommands(program: Command): void {
  const compose = program
    .command("compose")
    .description(
      "docker compose in a sandbox created with --docker (PATH is the compose file inside the sandbox)",
    );

  const common = (cmd: Command) =>
    cmd
      .argument("<id>", "sandbox id")
      .argument("<path>", "compose file inside the sandbox")
      .option("--local <file>", "upload this local compose file to PATH first")
      .option("--project <name>", "compose project name (default: the file's directory name)");

  common(compose.command("up"))
    .description("docker compose up -d; under gVisor every service gets host networking")
    .option("--host-network", "force the host-network override (default under runsc)")
    .option("--no-host-network", "no override (default under runc)")
    .option("--build", "build images first")
    .option("--json", "print JSON")
    .action(async (id: string, path: string, opts: ComposeOptions) => {
      const sandbox = await stackOf(id, path, opts);
      const stack = await sandbox.docker.composeUp(path, {
        projectName: opts.project,
        hostNetwork: opts.hostNetwork,
        build: Boolean(opts.build),
      });
      for (const w of stack.warnings) process.stderr.write(`warning: ${w}\n`);
      if (opts.json)
        return printJson({
          projectName: stack.projectName,
          services: stack.services,
          overridePath: stack.overridePath,
          warnings: stack.warnings,
          loadedImages: stack.loadedImages,
        });
      for (const image of stack.loadedImages) process.stderr.write(`loaded ${image}\n`);
      process.stdout.write(`${stack.projectName}: ${stack.services.join(", ")}\n`);
    });

  common(compose.command("down"))
    .description("docker compose down")
    .action(async (id: string, path: string, opts: ComposeOptions) => {
      await (await stackOf(id, path, opts)).docker.composeDown(path, { projectName: opts.project });
    });

  common(compose.command("ps"))
    .description("the stack's containers")
    .option("--json", "print JSON")
    .action(async (id: string, path: string, opts: ComposeOptions) => {
      const sandbox = await stackOf(id, path, opts);
      const out = await sandbox.docker.composePs(path, { projectName: opts.project });
      if (opts.json) return printJson(out);
      printTable(
        ["SERVICE", "STATE", "STATUS", "NAME"],
        out.map((c) => [
          String(c.Service ?? ""),
          String(c.State ?? ""),
          String(c.Status ?? ""),
          String(c.Name ?? ""),
        ]),
      );
    });

  common(compose.command("logs"))
    .description("logs of the stack, or of one service")
    .option("--service <name>", "only this service")
    .action(async (id: string, path: string, opts: ComposeOptions & { service?: string }) => {
      const sandbox = await stackOf(id, path, opts);
      process.stdout.write(
        await sandbox.docker.composeLogs(path, {
          projectName: opts.project,
          service: opts.service,
        }),
      );
    });

  const docker = program.command("docker").description("Docker in a sandbox created with --docker");
  docker
    .command("load")
    .description(
      "load a registry image (--ref, pulled by the daemon) or stream an image archive (docker save) into the sandbox's Docker, or a rootfs tarball with --import-as",
    )
    .argument("<id>", "sandbox id")
    .argument("[archive]", "local .tar file")
    .option("--ref <image>", "a registry image (NAME:TAG), pulled by the daemon unless stored")
    .option("--import-as <name:tag>", "docker import the tarball as this image")
    .action(
      async (
        id: string,
        archive: string | undefined,
        opts: { ref?: string; importAs?: string },
      ) => {
        if ((archive === undefined) === (opts.ref === undefined))
          throw new UsageError("give either an ARCHIVE or --ref IMAGE");
        if (opts.ref && opts.importAs)
          throw new UsageError("--import-as is for a rootfs tarball, not --ref");
        const sandbox = await Sandbox.connect(id, cliClientOptions());
        if (opts.ref) {
          const loaded = await sandbox.docker.load({ ref: opts.ref });
          process.stdout.write(`${loaded.image} ${loaded.digest}\n`);
          return;
        }
        const out = await sandbox.docker.load(archive!, { importAs: opts.importAs });
        process.stdout.write(out.stdout);
      },
    );
  docker
    .command("images")
    .description("images in the sandbox's Docker")
    .argument("<id>", "sandbox id")
    .action(async (id: string) =>
      printJson(await (await Sandbox.connect(id, cliClientOptions())).docker.images()),
    );
}
