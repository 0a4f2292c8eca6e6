import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { RegistryInfo } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import { classifySkopeoError, runTool } from "./skopeo.js";

/** Docker Hub's login host as Docker writes it; skopeo keys its credentials by `docker.io`. */
const normalizeHost = (host: string) =>
  host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;

/**
 * Registry settings: hosts allowed over plain HTTP (from the daemon's config) and stored
 * credentials. Credentials live in one containers-auth.json file (skopeo's own format, mode
 * 0600 in a 0700 directory) that skopeo reads by `--authfile`: a password never appears on a
 * command line, in a log or in an API answer.
 */
export class Registries {
  private readonly insecure: Set<string>;
  /** Logins and logouts rewrite the file: one at a time. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly authFile: string,
    insecureHosts: readonly string[] = [],
  ) {
    this.insecure = new Set(insecureHosts.map(normalizeHost));
  }

  isInsecure(host: string): boolean {
    return this.insecure.has(normalizeHost(host));
  }

  /** Flags for a skopeo command reading from `host` (`src`: copy's spelling of them). */
  async skopeoArgs(host: string, style: "inspect" | "copy"): Promise<string[]> {
    const prefix = style === "copy" ? "--src-" : "--";
    const args: string[] = [];
    if (await exists(this.authFile)) args.push(`${prefix}authfile`, this.authFile);
    if (this.isInsecure(host)) args.push(`${prefix}tls-verify=false`);
    return args;
  }

  /**
   * Checks the credentials against the registry (`skopeo login` asks it) and stores them;
   * registry_auth_failed if the registry refuses them.
   */
  login(host: string, username: string, password: string): Promise<void> {
    host = normalizeHost(host);
    return this.serial(async () => {
      await this.prepareDir();
      const args = [
        "login",
        "--authfile",
        this.authFile,
        "--username",
        username,
        "--password-stdin",
      ];
      if (this.isInsecure(host)) args.push("--tls-verify=false");
      const result = await runTool("skopeo", [...args, "--", host], { stdin: password });
      await chmod(this.authFile, 0o600).catch(() => {});
      if (result.code !== 0) {
        const err = classifySkopeoError(result.stderr, { reference: host, registry: host });
        if (err.code === "image_not_found" || err.code === "image_pull_failed")
          throw new PaddockError(
            "registry_auth_failed",
            `logging in to ${host} failed: ${err.details?.reason as string}`,
            err.details,
          );
        throw err;
      }
    });
  }

  /** Forgets the credentials of `host`; not_found if none are stored. */
  logout(host: string): Promise<void> {
    host = normalizeHost(host);
    return this.serial(async () => {
      if (!(await this.loggedIn()).includes(host))
        throw new PaddockError(
          "not_found",
          `no credentials stored for ${host}; list them with \`paddock registry ls\``,
        );
      const result = await runTool("skopeo", ["logout", "--authfile", this.authFile, "--", host]);
      if (result.code !== 0)
        throw new PaddockError("internal", `forgetting the credentials of ${host} failed`);
    });
  }

  /** Hosts with credentials or allowed over plain HTTP; never the credentials themselves. */
  async list(): Promise<RegistryInfo[]> {
    const loggedIn = new Set(await this.loggedIn());
    const hosts = [...new Set([...loggedIn, ...this.insecure])].sort();
    return hosts.map((host) => ({
      host,
      loggedIn: loggedIn.has(host),
      insecure: this.insecure.has(host),
    }));
  }

  private async loggedIn(): Promise<string[]> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.authFile, "utf8"));
      const auths = (parsed as { auths?: unknown }).auths;
      return auths && typeof auths === "object" ? Object.keys(auths) : [];
    } catch {
      return [];
    }
  }

  private async prepareDir(): Promise<void> {
    const dir = path.dirname(this.authFile);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
