import {
  CreateSandboxRequestSchema,
  CreateSnapshotRequestSchema,
  ExposedPortListSchema,
  ExposedPortSchema,
  ExposePortRequestSchema,
  HealthSchema,
  LabelsSchema,
  SandboxListSchema,
  SandboxSchema,
  SandboxStateSchema,
  SetTimeoutRequestSchema,
  SnapshotSchema,
  type CreateSandboxRequest,
  type CreateSnapshotRequest,
  type ExposedPort,
  type Health,
  type SandboxEvent,
  type SandboxInfo,
  type SandboxMetrics,
  type SandboxState,
  type SnapshotInfo,
} from "@paddock/protocol";
import type { ClientOptions } from "./config.js";
import { checkArgument } from "./errors.js";
import { HttpClient } from "./http.js";
import { Processes } from "./processes.js";
import { CodeInterpreter } from "./code.js";
import { Pty } from "./terminal.js";
import { Filesystem } from "./filesystem.js";
import { Docker } from "./docker.js";
import { SandboxNetworking } from "./network.js";
import { getMetrics } from "./metrics.js";
import { streamEvents, type EventStreamOptions } from "./events.js";

/** Moves a sandbox's expiry (checked as the daemon would first); its new description. */
function postTimeout(http: HttpClient, id: string, seconds: number): Promise<SandboxInfo> {
  const json = { timeoutSeconds: seconds };
  checkArgument(SetTimeoutRequestSchema, json, "setTimeout");
  return http.json("POST", `/v1/sandboxes/${encodeURIComponent(id)}/timeout`, SandboxSchema, {
    json,
  });
}

function postPause(http: HttpClient, id: string): Promise<SandboxInfo> {
  return http.json("POST", `/v1/sandboxes/${encodeURIComponent(id)}/pause`, SandboxSchema);
}

export type CreateSandboxOptions = CreateSandboxRequest & ClientOptions & { signal?: AbortSignal };

export interface ListSandboxesOptions extends ClientOptions {
  state?: SandboxState;
  /** Only sandboxes that carry all of these labels. */
  labels?: Record<string, string>;
}

/**
 * A sandbox: an isolated container under gVisor (default) or runc, with an agent inside.
 *
 * @example
 * ```ts
 * const sandbox = await Sandbox.create({ image: "debian", timeoutSeconds: 600 });
 * console.log(sandbox.id);
 * await sandbox.terminate();
 * ```
 */
export class Sandbox {
  /** Processes in this sandbox: exec, run, runCode, attach, list, kill. */
  readonly process: Processes;
  /** Terminals in this sandbox: create (a login shell by default), connect. */
  readonly pty: Pty;
  /** Files in this sandbox: upload, download, read, write, stat, list, batch, find. */
  readonly fs: Filesystem;
  /** Docker and Compose, in a sandbox created with `docker: true`. */
  readonly docker: Docker;
  /** Its egress policy: see SandboxNetworking. */
  readonly network: SandboxNetworking;
  /** Code that keeps its state between runs: contexts (python, node), run, restart, close. */
  readonly code: CodeInterpreter;

  private constructor(
    readonly id: string,
    private readonly http: HttpClient,
  ) {
    this.process = new Processes(http, `/v1/sandboxes/${id}/processes`);
    this.pty = new Pty(http, `/v1/sandboxes/${id}/processes`);
    this.fs = new Filesystem(http, `/v1/sandboxes/${id}/files`);
    this.docker = new Docker(http, `/v1/sandboxes/${id}/docker`);
    this.network = new SandboxNetworking(http, `/v1/sandboxes/${id}/network`);
    this.code = new CodeInterpreter(http, `/v1/sandboxes/${id}/code`);
  }

  /**
   * Creates a sandbox and returns once its agent answers. Options left out take the daemon's
   * defaults: image `busybox`, runtime `runsc`, 1 cpu, 512 MiB, 1024 pids, 300 s timeout.
   *
   * @example
   * ```ts
   * const sandbox = await Sandbox.create({ runtime: "runc", labels: { team: "ml" } });
   * ```
   */
  static async create(options: CreateSandboxOptions = {}): Promise<Sandbox> {
    const { url, token, fetch, signal, ...request } = options;
    // Checked as the daemon would, so a bad option fails before anything is sent; the request
    // goes as given, for the daemon to fill in its defaults.
    checkArgument(CreateSandboxRequestSchema, request, "create");
    const http = new HttpClient({ url, token, fetch });
    const info = await http.json("POST", "/v1/sandboxes", SandboxSchema, { json: request, signal });
    return new Sandbox(info.id, http);
  }

  /**
   * Attaches to an existing sandbox by id, resuming it if it is paused; throws
   * SandboxNotFoundError if there is none.
   *
   * @example
   * ```ts
   * const sandbox = await Sandbox.connect("sb_0123456789abcdef");
   * ```
   */
  static async connect(id: string, options: ClientOptions = {}): Promise<Sandbox> {
    const http = new HttpClient(options);
    const info = await http.json("GET", `/v1/sandboxes/${encodeURIComponent(id)}`, SandboxSchema);
    const sandbox = new Sandbox(info.id, http);
    if (info.state === "paused" || info.state === "pausing") await sandbox.resume();
    return sandbox;
  }

  /**
   * A sandbox's description by id, without connecting to it (connecting resumes a paused one).
   *
   * @example
   * ```ts
   * const { state } = await Sandbox.getInfo("sb_0123456789abcdef");
   * ```
   */
  static getInfo(id: string, options: ClientOptions = {}): Promise<SandboxInfo> {
    return new HttpClient(options).json(
      "GET",
      `/v1/sandboxes/${encodeURIComponent(id)}`,
      SandboxSchema,
    );
  }

  /**
   * Terminates a sandbox by id without connecting to it (a paused one is not resumed first).
   *
   * @example
   * ```ts
   * await Sandbox.terminate("sb_0123456789abcdef");
   * ```
   */
  static terminate(id: string, options: ClientOptions = {}): Promise<SandboxInfo> {
    return new HttpClient(options).json(
      "DELETE",
      `/v1/sandboxes/${encodeURIComponent(id)}`,
      SandboxSchema,
    );
  }

  /**
   * Lists sandboxes, optionally only those in one state or carrying some labels.
   *
   * @example
   * ```ts
   * const mine = await Sandbox.list({ state: "running", labels: { team: "ml" } });
   * ```
   */
  static async list(options: ListSandboxesOptions = {}): Promise<SandboxInfo[]> {
    const { state, labels, ...client } = options;
    if (state !== undefined) checkArgument(SandboxStateSchema, state, "state");
    if (labels !== undefined) checkArgument(LabelsSchema, labels, "labels");
    const http = new HttpClient(client);
    const label = Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`);
    const res = await http.json("GET", "/v1/sandboxes", SandboxListSchema, {
      query: { state, label },
    });
    return res.sandboxes;
  }

  /**
   * The sandbox's current description: state, limits, labels, times.
   *
   * @example
   * ```ts
   * const { state, expiresAt } = await sandbox.info();
   * ```
   */
  info(): Promise<SandboxInfo> {
    return this.http.json("GET", `/v1/sandboxes/${this.id}`, SandboxSchema);
  }

  /**
   * Ends the sandbox `seconds` from now instead of when it was due: shorter or longer than
   * before, from 1 s to 7 days. `info()` then shows the new `expiresAt` and `timeoutSeconds`. A
   * paused sandbox gets the `seconds` from its resume (its clock stands still while paused).
   * Throws SandboxNotRunningError for an ended sandbox, ConflictError while it is being created,
   * paused or resumed.
   *
   * @example
   * ```ts
   * await sandbox.setTimeout(3600); // an hour from now
   * const { expiresAt } = await sandbox.info();
   * ```
   */
  async setTimeout(seconds: number): Promise<void> {
    await postTimeout(this.http, this.id, seconds);
  }

  /**
   * `setTimeout` for a sandbox known by id, without connecting to it (connecting resumes a
   * paused sandbox); resolves with its new description.
   *
   * @example
   * ```ts
   * const { expiresAt } = await Sandbox.setTimeout("sb_0123456789abcdef", 600);
   * ```
   */
  static setTimeout(
    id: string,
    seconds: number,
    options: ClientOptions = {},
  ): Promise<SandboxInfo> {
    return postTimeout(new HttpClient(options), id, seconds);
  }

  /**
   * Asks the agent inside the sandbox to answer; resolves with its version.
   *
   * @example
   * ```ts
   * const { version } = await sandbox.health();
   * ```
   */
  health(): Promise<Health> {
    return this.http.json("GET", `/v1/sandboxes/${this.id}/health`, HealthSchema);
  }

  /**
   * Makes a port of the sandbox's own loopback reachable from the host, through the agent (the
   * sandbox keeps no network). Exposing an exposed port again returns it as it is.
   *
   * @example
   * ```ts
   * await sandbox.process.exec(["python3", "-m", "http.server", "8000"], { background: true });
   * await sandbox.process.waitForPort(8000);
   * const { url } = await sandbox.exposePort(8000);
   * const page = await fetch(url);
   * ```
   */
  async exposePort(
    port: number,
    options: { hostPort?: number; auth?: boolean } = {},
  ): Promise<ExposedPort> {
    const json = { port, ...options };
    checkArgument(ExposePortRequestSchema, json, "exposePort");
    return this.http.json("POST", `/v1/sandboxes/${this.id}/ports`, ExposedPortSchema, { json });
  }

  /** The sandbox's exposed ports. */
  async listExposedPorts(): Promise<ExposedPort[]> {
    return (await this.http.json("GET", `/v1/sandboxes/${this.id}/ports`, ExposedPortListSchema))
      .ports;
  }

  /** Stops exposing a port: new connections are refused. */
  async unexposePort(port: number): Promise<void> {
    checkArgument(ExposePortRequestSchema.shape.port, port, "port");
    await this.http.send("DELETE", `/v1/sandboxes/${this.id}/ports/${port}`);
  }

  /**
   * Pauses the sandbox: it uses no CPU and its timeout stands still. Under runsc (without a
   * network) its memory, processes and files are saved to disk and its memory goes back to the
   * host; under runc, or with a network, it is frozen in memory. Open process streams and port
   * connections are cut (the processes themselves go on after resume). Calls that need the
   * agent then throw SandboxPausedError, unless the sandbox was created with `autoResume`.
   * Pausing a paused sandbox is harmless.
   *
   * @example
   * ```ts
   * await sandbox.pause();
   * // ... later, from anywhere:
   * const again = await Sandbox.connect(sandbox.id); // resumes it
   * ```
   */
  pause(): Promise<SandboxInfo> {
    return postPause(this.http, this.id);
  }

  /**
   * `pause` for a sandbox known by id, without connecting to it (connecting resumes it).
   *
   * @example
   * ```ts
   * await Sandbox.pause("sb_0123456789abcdef");
   * ```
   */
  static pause(id: string, options: ClientOptions = {}): Promise<SandboxInfo> {
    return postPause(new HttpClient(options), id);
  }

  /**
   * Resumes a paused sandbox with its processes, files, environment and exposed ports; resolves
   * once its agent answers. Resuming a running sandbox is harmless.
   *
   * @example
   * ```ts
   * await sandbox.resume();
   * ```
   */
  resume(): Promise<SandboxInfo> {
    return this.http.json("POST", `/v1/sandboxes/${this.id}/resume`, SandboxSchema);
  }

  /**
   * Snapshots the sandbox, which keeps running (its open process streams and port connections
   * are cut for that moment under runsc). Under runsc without a network the snapshot holds its
   * memory, processes and files, so processes go on in every sandbox started from it; under
   * runc it holds the files only. A runsc sandbox with a network cannot be snapshotted.
   *
   * @example
   * ```ts
   * await sandbox.process.run("pip install numpy && python3 -c 'import numpy'");
   * const snapshot = await sandbox.snapshot({ name: "numpy-ready" });
   * const copy = await Sandbox.create({ snapshot: "numpy-ready" });
   * ```
   */
  snapshot(options: CreateSnapshotRequest = {}): Promise<SnapshotInfo> {
    const json = checkArgument(CreateSnapshotRequestSchema, options, "snapshot options");
    return this.http.json("POST", `/v1/sandboxes/${this.id}/snapshots`, SnapshotSchema, { json });
  }

  /**
   * The sandbox's resource use, read by the daemon on the host from its cgroup, disk and network
   * namespace: CPU cores in use (over the time since the previous read, or the last second),
   * memory working set, disk used, tasks, OOM kills and network bytes, each with its limit.
   *
   * @example
   * ```ts
   * const { cpu, memory } = await sandbox.metrics();
   * console.log(cpu.usedCores, memory.workingSetBytes / memory.limitBytes);
   * ```
   */
  metrics(): Promise<SandboxMetrics> {
    return getMetrics(this.http, this.id);
  }

  /**
   * `metrics` for a sandbox known by id, without connecting to it (connecting resumes it).
   *
   * @example
   * ```ts
   * const { disk } = await Sandbox.metrics("sb_0123456789abcdef");
   * ```
   */
  static metrics(id: string, options: ClientOptions = {}): Promise<SandboxMetrics> {
    return getMetrics(new HttpClient(options), id);
  }

  /**
   * This sandbox's lifecycle events (paused, resumed, failed, terminated, expired) as they
   * happen, until `signal` aborts or the loop stops. `Events.stream()` gives every sandbox's.
   *
   * @example
   * ```ts
   * for await (const event of sandbox.events()) {
   *   if (event.type === "terminated" || event.type === "failed") break;
   * }
   * ```
   */
  events(options: EventStreamOptions = {}): AsyncGenerator<SandboxEvent> {
    return streamEvents(this.http, { ...options, sandboxId: this.id });
  }

  /**
   * Terminates the sandbox and removes everything it had. Terminating twice is harmless.
   *
   * @example
   * ```ts
   * await sandbox.terminate();
   * ```
   */
  async terminate(): Promise<void> {
    await this.http.json("DELETE", `/v1/sandboxes/${this.id}`, SandboxSchema);
  }
}
