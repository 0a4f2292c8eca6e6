import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { Option, type Command } from "commander";
import { BUILTIN_IMAGES, RUNTIMES } from "@paddock/protocol";
import { Images, type RuntimeName } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { collect, parsePairs, printJson, printTable, UsageError } from "../output.js";
import { bytesBar, byteProgress, statusLine } from "../progress.js";

const mib = (n: number | undefined) => (n === undefined ? "-" : `${(n / 1048576).toFixed(1)} MiB`);
/** A digest as Docker shows it by default: its first 12 hex digits. */
const shortDigest = (d: string | undefined) =>
  d ? d.slice("sha256:".length, "sha256:".length + 12) : "-";

/**
 * A tar stream of a directory (GNU tar, argument vector) or the bytes of a tar file: a root
 * filesystem and an OCI layout directory are sent alike, and the daemon tells them apart.
 */
async function tarSource(
  source: string,
): Promise<{ stream: Readable; size?: number; done: Promise<void> }> {
  const st = await stat(source).catch(() => {
    throw new UsageError(
      `${source} does not exist; give a directory (root filesystem or OCI layout) or a tar file (.tar, .tar.gz, docker save)`,
    );
  });
  if (st.isFile())
    return { stream: createReadStream(source), size: st.size, done: Promise.resolve() };
  if (!st.isDirectory()) throw new UsageError(`${source} is neither a directory nor a file`);
  const tar = spawn("tar", ["-c", "--numeric-owner", "-C", source, "."], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  tar.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const done = new Promise<void>((resolve, reject) =>
    tar.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`tar of ${source} failed: ${stderr.trim()}`)),
    ),
  );
  return { stream: tar.stdout, done };
}

interface BuildFlags {
  file?: string;
  buildArg: string[];
  target?: string;
  runtime?: RuntimeName;
  network?: "none" | "all";
  json?: boolean;
}

/** `--build-arg` values as Docker takes them: `KEY=value`, or `KEY` alone from the environment (skipped when unset). */
function buildArgs(values: string[]): Record<string, string> {
  const fromEnv = (v: string) => (v.includes("=") ? v : `${v}=${process.env[v]}`);
  return parsePairs(
    values.filter((v) => v.includes("=") || process.env[v] !== undefined).map(fromEnv),
    "--build-arg",
  );
}

/**
 * A build's output on stderr: Docker's own text as it comes, and each phase as a status line.
 * On a terminal the status line rewrites itself, so it is ended (kept as a line) before log
 * text is written after it, and a log line left open is ended before a status is drawn.
 */
function buildLog(prefix: string): {
  phase(message: string): void;
  write(text: string): void;
  done(message: string): void;
} {
  const status = statusLine(prefix);
  const tty = process.stderr.isTTY;
  let phase: string | undefined;
  let lineOpen = false;
  const endLine = () => {
    if (lineOpen) process.stderr.write("\n");
    lineOpen = false;
  };
  return {
    phase(message) {
      endLine();
      status.update(message);
      phase = message;
    },
    write(text) {
      if (text === "") return;
      if (tty && phase !== undefined) status.done(phase);
      phase = undefined;
      process.stderr.write(text);
      lineOpen = !text.endsWith("\n");
    },
    done(message) {
      endLine();
      status.done(message);
    },
  };
}

export function registerImageCommands(program: Command): void {
  const image = program.command("image").description("manage images");

  image
    .command("ls")
    .description(
      "list images: built-in (ready=false until first built), imported and pulled (one row per reference; --json adds each pulled image's config: env, workingDir, user, entrypoint, cmd)",
    )
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const list = await new Images(cliClientOptions()).list();
      if (opts.json) return printJson(list);
      const rows = list.flatMap((i) => {
        const names = i.references?.length ? i.references : [i.name];
        return names.map((name) => [
          name,
          i.source,
          shortDigest(i.digest),
          mib(i.sizeBytes),
          i.ready ? (i.createdAt ?? "-") : "not built",
        ]);
      });
      printTable(["NAME", "SOURCE", "DIGEST", "SIZE", "CREATED/PULLED"], rows);
    });

  image
    .command("pull")
    .description(
      "pull an image from a registry: name[:tag], registry/ns/name:tag or name@sha256:... (Docker Hub for short names); a digest already stored downloads nothing",
    )
    .argument("<reference>", "image reference")
    .option("--platform <os/arch>", "the platform to pull (default linux/amd64)")
    .option("--json", "print the image as JSON")
    .action(async (reference: string, opts: { platform?: string; json?: boolean }) => {
      const bar = bytesBar(`pulling ${reference}`);
      const info = await new Images(cliClientOptions()).pull(reference, {
        platform: opts.platform,
        onProgress: (p) => bar.update(p),
      });
      bar.done(`${info.digest ?? "done"} (${mib(info.sizeBytes)})`);
      if (opts.json) printJson(info);
      else process.stdout.write(`${info.references?.[0] ?? info.name}@${info.digest}\n`);
    });

  image
    .command("build")
    .description(
      "build an image from a Dockerfile, as `docker build` does, and store it as NAME (name or name:tag) for `paddock create --image NAME`. The build runs in a throwaway sandbox with Docker; its output streams to stderr. CONTEXT (default .) is sent with its .dockerignore applied. With a built-in NAME (busybox, debian, docker) and no CONTEXT or option, builds that built-in image now instead of on first use",
    )
    .argument("<name>", "image name or name:tag to store the build as")
    .argument("[context]", "the build context directory (default .)")
    .option(
      "-f, --file <path>",
      "the Dockerfile, relative to the current directory (default CONTEXT/Dockerfile); may lie outside the context",
    )
    .option(
      "--build-arg <KEY=value>",
      "an ARG value (repeatable); KEY alone takes it from the environment",
      collect,
      [],
    )
    .option("--target <stage>", "the stage to build (FROM ... AS stage); default the last")
    .addOption(
      new Option(
        "--runtime <runtime>",
        "the runtime of the build's sandbox (default the daemon's)",
      ).choices(RUNTIMES),
    )
    .addOption(
      new Option(
        "--network <egress>",
        "all: RUN steps reach the network (refused destinations as for any sandbox); default none",
      ).choices(["none", "all"]),
    )
    .option("--json", "print the image as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  paddock image build app:1 ./app\n  paddock image build app:1 -f docker/prod.Dockerfile --build-arg VERSION=2 --target runtime .\n  paddock create --image app:1\n  paddock image build debian      # a built-in image",
    )
    .action(async (name: string, context: string | undefined, opts: BuildFlags) => {
      const images = new Images(cliClientOptions());
      const dockerfileBuild =
        context !== undefined ||
        opts.file !== undefined ||
        opts.buildArg.length > 0 ||
        opts.target !== undefined ||
        opts.runtime !== undefined ||
        opts.network !== undefined;
      if (!dockerfileBuild && (BUILTIN_IMAGES as readonly string[]).includes(name)) {
        const status = statusLine(`building image ${name}`);
        const info = await images.build(name, { onProgress: (m) => status.update(m) });
        status.done("ready");
        if (opts.json) printJson(info);
        return;
      }
      const log = buildLog(`building ${name}`);
      const info = await images.build({
        name,
        context: context ?? ".",
        // Docker's rule: -f is relative to the current directory, not to the context.
        ...(opts.file !== undefined && { dockerfile: path.resolve(opts.file) }),
        buildArgs: buildArgs(opts.buildArg),
        ...(opts.target !== undefined && { target: opts.target }),
        ...(opts.runtime !== undefined && { runtime: opts.runtime }),
        ...(opts.network !== undefined && { network: opts.network }),
        onProgress: log.phase,
        onLog: log.write,
      });
      log.done(`built ${info.digest ?? info.name}`);
      if (opts.json) printJson(info);
      else process.stdout.write(`${info.references?.[0] ?? info.name}@${info.digest ?? "-"}\n`);
    });

  image
    .command("import")
    .description(
      "import an image: a root filesystem (directory or .tar/.tar.gz), a `docker save` archive, or an OCI image layout (directory or tar); the daemon tells which. An archive's image is stored by digest with its config (env, workdir, user, entrypoint, cmd), under NAME (name or name:tag); of several images it takes the one saved as NAME, else the linux/amd64 one",
    )
    .argument("<name>", "image name (an archive may also take a reference: name:tag)")
    .argument("<path>", "directory (root filesystem or OCI layout) or tar file")
    .option("--json", "print the image as JSON")
    .action(async (name: string, source: string, opts: { json?: boolean }) => {
      const { stream, size, done } = await tarSource(source);
      const body = Readable.toWeb(
        stream.pipe(byteProgress(`importing ${name}`, size)),
      ) as ReadableStream<Uint8Array>;
      const [info] = await Promise.all([new Images(cliClientOptions()).import(name, body), done]);
      if (opts.json) printJson(info);
      else process.stdout.write(`${info.name}\n`);
    });

  image
    .command("rm")
    .description(
      "remove an image: a pulled one by reference (by digest: with every reference to it), its files freed once no sandbox uses it; an imported or built-in one when no sandbox uses it",
    )
    .argument("<name>", "image name or reference")
    .action(async (name: string) => {
      await new Images(cliClientOptions()).remove(name);
      process.stdout.write(`${name}\n`);
    });
}
