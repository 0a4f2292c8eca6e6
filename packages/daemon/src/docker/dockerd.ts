import type { AgentClient } from "../agent/client.js";
import { execCollect, startBackground } from "../agent/exec.js";
import { PaddockError } from "../errors.js";
import type { DockerProfile } from "../runtimes/index.js";

export const DOCKERD_LOG = "/var/log/paddock-dockerd.log";

/**
 * Starts dockerd in a new sandbox, as its runtime's profile says, and waits until `docker info`
 * answers. On failure the error carries the tail of dockerd's log.
 */
export async function startDockerd(
  client: AgentClient,
  docker: DockerProfile,
  timeoutMs = 60_000,
): Promise<void> {
  const which = await execCollect(client, {
    argv: ["sh", "-c", "command -v dockerd && command -v docker"],
  });
  if (which.exitCode !== 0) {
    throw new PaddockError(
      "invalid_request",
      'docker: true needs an image with dockerd and docker in it; use the built-in image "docker"',
    );
  }
  await startBackground(client, {
    argv: ["sh", "-c", docker.dockerdScript(DOCKERD_LOG)],
    tag: "dockerd",
  });
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const info = await execCollect(client, {
      argv: ["docker", "info", "--format", "{{.ServerVersion}}"],
      timeoutMs: 10_000,
    });
    // With --format, docker info exits 0 even when the daemon is unreachable: the server
    // version is what proves dockerd answers.
    if (info.exitCode === 0 && info.stdout.trim() !== "") return;
    last = info.stderr.trim();
    await new Promise((r) => setTimeout(r, 250));
  }
  const log = await execCollect(client, { argv: ["tail", "-n", "40", DOCKERD_LOG] });
  throw new PaddockError(
    "runtime_error",
    `dockerd did not become ready within ${timeoutMs} ms (${last || "no answer"})`,
    {
      dockerdLog: log.stdout,
    },
  );
}
