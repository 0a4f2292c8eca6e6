import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidRequestError, Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers } from "../helpers/host.js";
import { RUNTIMES, TEST_IMAGES_DIR } from "../helpers/paths.js";

let daemon: TestDaemon;
let scratch: string;
let tarball: string;
beforeAll(async () => {
  // Docker under runc is refused unless the operator opts in, and then only for the admin token
  // (daemon.client); docker-runc-policy.test.ts checks the refusals.
  daemon = await startDaemon(undefined, { PADDOCK_ALLOW_RUNC_DOCKER: "1" });
  scratch = mkdtempSync(path.join(tmpdir(), "paddock-docker-"));
  // No registry is reachable: the stack's image is a busybox rootfs imported from a tarball.
  await (await Sandbox.create({ ...daemon.client, runtime: "runc" })).terminate();
  tarball = path.join(scratch, "busybox.tar");
  execFileSync("tar", ["-cf", tarball, "-C", path.join(TEST_IMAGES_DIR, "busybox", "rootfs"), "."]);
});
afterAll(async () => {
  await daemon?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const STACK = `
x-common: &common
  image: busybox:local
services:
  web:
    <<: *common
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 18080 -h /www"]
    ports: ["18080:18080"]
  client:
    <<: *common
    depends_on: [web]
    command: ["sh", "-c", "for i in $$(seq 1 60); do wget -q -O - http://web:18080/index.html && break; sleep 0.5; done; exec sleep 3600"]
  debug:
    <<: *common
    profiles: [debug]
    command: ["true"]
`;

describe.each(RUNTIMES)("docker compose on %s", (runtime) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await Sandbox.create({
      ...daemon.client,
      runtime,
      docker: true,
      memoryMiB: 2048,
      timeoutSeconds: 900,
    });
    const loaded = await sandbox.docker.load(tarball, { importAs: "busybox:local" });
    expect(loaded.stdout).toMatch(/^sha256:/);
    await sandbox.fs.writeFile("/app/compose.yml", STACK);
  });
  afterAll(async () => {
    const id = sandbox?.id;
    await sandbox?.terminate();
    if (id) expect(leftovers(daemon.dataDir, runtime, id)).toEqual([]);
  });

  it("docker info answers once create returns", async () => {
    const info = await (
      await sandbox.process.exec("docker", "info", "--format", "{{.ServerVersion}}")
    ).output();
    expect(info.exitCode).toBe(0);
    expect(info.stdout.trim()).toMatch(/^\d+\.\d+/);
    expect((await sandbox.info()).docker).toBe(true);
  });

  it("docker compose config shows the file and the override merged, network_mode host on every service", async () => {
    const stack = await sandbox.docker.composeUp("/app/compose.yml", {
      projectName: "cfg",
      hostNetwork: true,
      detach: true,
    });
    try {
      expect(stack.services.sort()).toEqual(["client", "debug", "web"]);
      expect(stack.warnings.join("\n")).toMatch(/"web" publishes ports/);
      const config = await (
        await sandbox.process.exec([
          "docker",
          "compose",
          "-f",
          "/app/compose.yml",
          "-f",
          stack.overridePath!,
          "--profile",
          "debug",
          "config",
          "--format",
          "json",
        ])
      ).output();
      expect(config.exitCode).toBe(0);
      const merged = JSON.parse(config.stdout) as {
        services: Record<string, { network_mode?: string; extra_hosts?: unknown }>;
      };
      expect(Object.keys(merged.services).sort()).toEqual(["client", "debug", "web"]);
      for (const svc of Object.values(merged.services)) {
        expect(svc.network_mode).toBe("host");
        expect(JSON.stringify(svc.extra_hosts)).toMatch(/web.*127\.0\.0\.1/);
      }
    } finally {
      await stack.down();
    }
  });

  it("runs a two-service stack from a loaded image: up, logs, reach by name, down", async () => {
    const stack = await sandbox.docker.composeUp("/app/compose.yml", { projectName: "demo" });
    expect(stack.overridePath !== null).toBe(runtime === "runsc");
    let logs = "";
    for (let i = 0; i < 60 && !logs.includes("hello-from-web"); i++) {
      logs = await stack.logs("client");
      if (!logs.includes("hello-from-web")) await new Promise((r) => setTimeout(r, 500));
    }
    expect(logs).toContain("hello-from-web");
    const ps = await stack.ps();
    expect(ps.map((c) => [c.Service, c.State]).sort()).toEqual([
      ["client", "running"],
      ["web", "running"],
    ]);
    // The web service is reached from the host through an exposed port of the sandbox.
    await sandbox.process.waitForPort(18080, { timeoutMs: 20_000 });
    const { url } = await sandbox.exposePort(18080);
    expect(await (await fetch(`${url}/index.html`)).text()).toBe("hello-from-web\n");
    await sandbox.unexposePort(18080);
    await stack.down();
    expect(await stack.ps()).toEqual([]);
    expect(await sandbox.docker.ps()).toEqual([]);
  });

  it("docker run works on the loaded image", async () => {
    const out = await sandbox.docker.run("busybox:local", ["echo", "ran"]);
    expect(out).toMatchObject({ exitCode: 0, stdout: "ran\n" });
  });

  it.each([
    ["invalid YAML", "services: [", /not valid YAML/],
    ["no services", "version: '3'\n", /defines no services/],
    [
      "a service name with odd characters",
      "services:\n  'we b!':\n    image: busybox:local\n",
      /invalid service name/,
    ],
  ])("refuses %s before anything runs", async (_what, text, message) => {
    await sandbox.fs.writeFile("/bad/compose.yml", text);
    const err = await sandbox.docker
      .composeUp("/bad/compose.yml", { hostNetwork: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toMatch(message);
    expect(await sandbox.docker.ps()).toEqual([]);
  });
});

describe("docker options", () => {
  it("a sandbox without docker: true gets a clear error from the docker API", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime: "runc" });
    try {
      await expect(sandbox.docker.ps()).rejects.toThrow(/docker: true/);
    } finally {
      await sandbox.terminate();
    }
  });

  it("docker: true on an image without dockerd fails clearly and leaves nothing", async () => {
    const err = await Sandbox.create({
      ...daemon.client,
      runtime: "runc",
      image: "busybox",
      docker: true,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/image "docker"/);
    expect(await Sandbox.list({ ...daemon.client, state: "running" })).toEqual([]);
  });
});
