import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { PaddockError } from "../errors.js";

/** What a finished tool run left: its exit code and the end of what it wrote to stderr. */
export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs skopeo or umoci with an argument vector (never a shell), feeding `stdin` if given and
 * passing each stdout line to `onLine`. stdout is kept whole only when `keepStdout` (a raw
 * manifest); stderr's last 16 KiB are kept for errors.
 */
export function runTool(
  file: string,
  args: readonly string[],
  options: {
    stdin?: string;
    onLine?: (line: string) => void;
    keepStdout?: boolean;
    cwd?: string;
    signal?: AbortSignal;
  } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    // setpriv kills the tool if the daemon dies, so no orphan writes into a pull dir that the
    // next daemon removes (util-linux; PR_SET_PDEATHSIG has no Node binding).
    const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", file, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      cwd: options.cwd,
      signal: options.signal,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr = (stderr + d).slice(-16 * 1024);
    });
    if (options.keepStdout)
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    else createInterface({ input: child.stdout }).on("line", (l) => options.onLine?.(l));
    child.stdin.on("error", () => {}).end(options.stdin ?? "");
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** skopeo's own message from its `level=fatal msg="..."` line, unquoted; else its last line. */
export function toolMessage(stderr: string): string {
  const fatal = /level=fatal msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
  if (fatal) return fatal[1]!.replace(/\\(.)/g, "$1");
  const lines = stderr.trim().split("\n");
  return (lines[lines.length - 1] ?? "").trim();
}

/**
 * Turns a failed skopeo run into a PaddockError with a stable code and what to do. The patterns
 * are the error texts of containers/image (the library under skopeo 1.9) and of Go's net/http
 * and crypto/tls, as captured in packages/daemon/test/skopeo-errors.test.ts.
 */
export function classifySkopeoError(
  stderr: string,
  context: { reference: string; registry: string },
): PaddockError {
  const message = toolMessage(stderr) || "no output";
  const { reference, registry } = context;
  const details = { reference, registry, reason: message };
  if (/server gave HTTP response to HTTPS client/.test(message)) {
    return new PaddockError(
      "registry_unreachable",
      `registry ${registry} speaks plain HTTP, which the daemon refuses unless told: start it with \`paddock serve --insecure-registry ${registry}\` (or PADDOCK_INSECURE_REGISTRIES) if that registry is trusted`,
      details,
    );
  }
  if (
    /unauthorized|authentication required|invalid username\/password|incorrect username or password|requested access to the resource is denied|status code 401/i.test(
      message,
    )
  ) {
    return new PaddockError(
      "registry_auth_failed",
      `registry ${registry} refused access to ${reference}: log in with \`paddock registry login ${registry} --username USER --password-stdin\` (or check the name: some registries answer "denied" for images that do not exist) (${message})`,
      details,
    );
  }
  if (
    /manifest unknown|name unknown|repository name not known|not found: manifest|status code 404/i.test(
      message,
    )
  ) {
    return new PaddockError(
      "image_not_found",
      `registry ${registry} has no image ${reference}; check the repository name and tag (${message})`,
      details,
    );
  }
  if (
    /digest did not match|does not match (?:config|digest)|computed digest|size mismatch|Digest did not match|unexpected blob size|content (?:digest|size) mismatch/i.test(
      message,
    )
  ) {
    return new PaddockError(
      "image_corrupt",
      `a blob of ${reference} from ${registry} does not match its digest (corrupt in the registry or in transit); pull again, and if it persists the image in the registry is damaged (${message})`,
      details,
    );
  }
  if (/no image found in (?:image index|manifest list) for architecture/i.test(message)) {
    return new PaddockError(
      "image_platform_unavailable",
      `${reference} has no image for the platform asked (${message}); pick one it has with --platform`,
      details,
    );
  }
  if (
    /connection refused|no such host|i\/o timeout|network is unreachable|no route to host|dial tcp|TLS handshake|x509:|tls:|connection reset|EOF$|server misbehaving|context deadline exceeded/i.test(
      message,
    )
  ) {
    return new PaddockError(
      "registry_unreachable",
      `registry ${registry} cannot be reached: check the host and port, that it is up, and (for plain HTTP) \`paddock serve --insecure-registry ${registry}\` (${message})`,
      details,
    );
  }
  return new PaddockError("image_pull_failed", `pulling ${reference} failed: ${message}`, details);
}
