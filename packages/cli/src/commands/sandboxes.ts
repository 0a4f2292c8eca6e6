import type { Command } from "commander";
import { Images, Sandbox, type SandboxInfo } from "paddock";
import { RUNTIMES, SANDBOX_DEFAULTS, SANDBOX_STATES, type SandboxState } from "@paddock/protocol";
import { cliClientOptions } from "../client-options.js";
import { collect, parsePairs, printJson, printTable, UsageError } from "../output.js";
import { statusLine } from "../progress.js";
import { addNetworkOptions, createNetwork, describeNetwork } from "./network.js";

const num = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${what} must be a number, got "${v}"`);
  return n;
};

function describe(info: SandboxInfo): string {
  const rows: [string, string][] = [
    ["id", info.id],
    ["state", info.state],
    ["image", info.image],
    ["runtime", info.runtime],
    ["cpu", String(info.cpu)],
    ["memory", `${info.memoryMiB} MiB`],
    ["pids", String(info.pidsLimit)],
    ["disk", `${info.diskMiB} MiB`],
    ["oom kills", String(info.oomKills)],
    ["created", info.createdAt],
    ["expires", info.pausedAt ? `${info.expiresAt} (stands still while paused)` : info.expiresAt],
    ...(info.pausedAt ? ([["paused", info.pausedAt]] as [string, string][]) : []),
    ...(info.autoResume ? ([["auto resume", "yes"]] as [string, string][]) : []),
    [
      "labels",
      Object.entries(info.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ") || "-",
    ],
  ];
  // A pulled or archive image's config: what `docker run` would start, and the process defaults.
  const c = info.imageConfig;
  if (c) {
    const argv = (a: string[] | null) => (a ? JSON.stringify(a) : "-");
    rows.push(["entrypoint", argv(c.entrypoint)], ["cmd", argv(c.cmd)]);
    if (c.workingDir) rows.push(["workdir", c.workingDir]);
    if (c.user) rows.push(["user", c.user]);
  }
  if (info.network) rows.push(["network", describeNetwork(info.network)]);
  if (info.terminatedAt) rows.push(["ended", info.terminatedAt]);
  if (info.reason) rows.push(["reason", info.reason]);
  return rows.map(([k, v]) => `${k.padEnd(10)} ${v}`).join("\n");
}

const SPAN_UNITS: [string, number][] = [
  ["d", 86_400],
  ["h", 3600],
  ["m", 60],
  ["s", 1],
];

/** A span as people read it: "45s", "5m", "1h 30m", "2d 3h" (its two largest units, rounded down). */
function span(ms: number): string {
  let rest = Math.max(0, Math.floor(ms / 1000));
  const parts: string[] = [];
  for (const [unit, size] of SPAN_UNITS) {
    if (rest < size) continue;
    parts.push(`${Math.floor(rest / size)}${unit}`);
    rest %= size;
  }
  return parts.slice(0, 2).join(" ") || "0s";
}

/** When a sandbox ends: a paused one's clock stands still, so it has its timeout left at resume. */
function describeExpiry(info: SandboxInfo): string {
  if (info.state === "paused")
    return `${info.id} is paused: ${span(info.timeoutSeconds * 1000)} left once it resumes`;
  return `${info.id} expires at ${info.expiresAt} (in ${span(Date.parse(info.expiresAt) - Date.now())})`;
}

/** Builds a built-in image first, with progress, so a first `create --image debian` is not silent. */
async function ensureImage(name: string): Promise<void> {
  const images = new Images(cliClientOptions());
  const image = await images.get(name);
  if (image.ready) return;
  const status = statusLine(`building image ${name}`);
  await images.build(name, { onProgress: (m) => status.update(m) });
  status.done("ready");
}

export function registerSandboxCommands(program: Command): void {
  const create = program
    .command("create")
    .description("create a sandbox and print its id")
    .option(
      "--image <name>",
      `image to start from (default ${SANDBOX_DEFAULTS.image}, or docker with --docker)`,
    )
    .option("--docker", "run a Docker engine inside; returns once `docker info` answers")
    .option("--runtime <runtime>", `${RUNTIMES.join(" or ")}`, SANDBOX_DEFAULTS.runtime)
    .option("--cpu <cores>", "cpu cores, fractions allowed", num("--cpu"), SANDBOX_DEFAULTS.cpu)
    .option("--memory <MiB>", "memory limit in MiB", num("--memory"), SANDBOX_DEFAULTS.memoryMiB)
    .option("--pids <n>", "process limit", num("--pids"), SANDBOX_DEFAULTS.pidsLimit)
    .option(
      "--disk <MiB>",
      "size of the writable filesystem in MiB",
      num("--disk"),
      SANDBOX_DEFAULTS.diskMiB,
    )
    .option(
      "--timeout <seconds>",
      "terminate after this many seconds",
      num("--timeout"),
      SANDBOX_DEFAULTS.timeoutSeconds,
    )
    .option("--env <K=V>", "environment variable (repeatable)", collect, [])
    .option("--label <K=V>", "label (repeatable)", collect, [])
    .option("--auto-resume", "when paused, resume on any call that needs the sandbox")
    .option(
      "--snapshot <snapshot>",
      "start from a snapshot (id or name): its image, runtime, limits and network are used",
    );
  addNetworkOptions(create)
    .option("--json", "print the whole sandbox as JSON")
    .action(async (opts) => {
      const image: string = opts.image ?? (opts.docker ? "docker" : SANDBOX_DEFAULTS.image);
      // Docker under runc is refused unless the daemon's operator allowed it for the admin
      // token; the daemon decides before it builds anything, so ask it first rather than build
      // the image only to hear no. (An allowed create builds a missing image itself.)
      if (!opts.snapshot && !(opts.docker && opts.runtime === "runc")) await ensureImage(image);
      const sandbox = await Sandbox.create({
        ...cliClientOptions(),
        image,
        docker: Boolean(opts.docker),
        runtime: opts.runtime,
        cpu: opts.cpu,
        memoryMiB: opts.memory,
        pidsLimit: opts.pids,
        diskMiB: opts.disk,
        timeoutSeconds: opts.timeout,
        env: parsePairs(opts.env, "--env"),
        labels: parsePairs(opts.label, "--label"),
        network: createNetwork(opts),
        autoResume: Boolean(opts.autoResume),
        ...(opts.snapshot ? { snapshot: opts.snapshot as string } : {}),
      });
      if (opts.json) printJson(await sandbox.info());
      else process.stdout.write(`${sandbox.id}\n`);
    });

  program
    .command("list")
    .alias("ls")
    .description("list sandboxes")
    .option("--state <state>", `only this state (${SANDBOX_STATES.join(", ")})`)
    .option("--label <K=V>", "only sandboxes with this label (repeatable)", collect, [])
    .option("--all", "include terminated and failed sandboxes")
    .option("--json", "print JSON")
    .action(
      async (opts: { state?: SandboxState; label: string[]; all?: boolean; json?: boolean }) => {
        let list = await Sandbox.list({
          ...cliClientOptions(),
          state: opts.state,
          labels: parsePairs(opts.label, "--label"),
        });
        if (!opts.state && !opts.all)
          list = list.filter((s) => s.state !== "terminated" && s.state !== "failed");
        if (opts.json) return printJson(list);
        printTable(
          ["ID", "STATE", "RUNTIME", "IMAGE", "CREATED", "LABELS"],
          list.map((s) => [
            s.id,
            s.state,
            s.runtime,
            s.image,
            s.createdAt,
            Object.entries(s.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(","),
          ]),
        );
      },
    );

  program
    .command("info")
    .description("show one sandbox")
    .argument("<id>", "sandbox id")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }) => {
      const info = await Sandbox.getInfo(id, cliClientOptions());
      if (opts.json) printJson(info);
      else process.stdout.write(`${describe(info)}\n`);
    });

  for (const [name, description] of [
    [
      "pause",
      "pause a sandbox: no CPU, its timeout stands still; under runsc without a network its memory, processes and files go to disk, otherwise it is frozen in memory",
    ],
    ["resume", "resume a paused sandbox; returns once its agent answers"],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument("<ids...>", "sandbox ids")
      .option("--json", "print each sandbox as JSON")
      .action(async (ids: string[], opts: { json?: boolean }) => {
        for (const id of ids) {
          const info =
            name === "pause"
              ? await Sandbox.pause(id, cliClientOptions())
              : await (await Sandbox.connect(id, cliClientOptions())).resume();
          if (opts.json) printJson(info);
          else process.stdout.write(`${id} ${info.state}\n`);
        }
      });
  }

  program
    .command("timeout")
    .description(
      "end a sandbox SECONDS from now instead of when it was due (shorter or longer, 1 s to 7 days); a paused sandbox gets them from its resume",
    )
    .argument("<id>", "sandbox id")
    .argument("<seconds>", "seconds of running time left, from now", num("SECONDS"))
    .option("--json", "print the whole sandbox as JSON")
    .addHelpText(
      "after",
      "\nExample:\n  paddock timeout sb_0123456789abcdef 3600   # an hour from now",
    )
    .action(async (id: string, seconds: number, opts: { json?: boolean }) => {
      const info = await Sandbox.setTimeout(id, seconds, cliClientOptions());
      if (opts.json) printJson(info);
      else process.stdout.write(`${describeExpiry(info)}\n`);
    });

  program
    .command("rm")
    .description("terminate sandboxes and remove everything they had")
    .argument("<ids...>", "sandbox ids")
    .action(async (ids: string[]) => {
      for (const id of ids) {
        await Sandbox.terminate(id, cliClientOptions());
        process.stdout.write(`${id}\n`);
      }
    });
}
