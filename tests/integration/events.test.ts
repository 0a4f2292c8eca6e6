import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Events, Keys, Sandbox, type ClientOptions, type SandboxEvent } from "paddock";
import { SandboxEventSchema } from "@paddock/protocol";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { CLI } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  // The monitor notices a dead sandbox within 300 ms rather than 5 s.
  daemon = await startDaemon(undefined, { PADDOCK_MONITOR_INTERVAL_MS: "300" });
});
afterAll(async () => {
  await daemon?.stop();
});

/** Collects a stream's events (all the daemon kept, then new ones) until stopped. */
function collect(client: ClientOptions) {
  const stop = new AbortController();
  const events: SandboxEvent[] = [];
  let failure: unknown;
  const done = (async () => {
    for await (const e of Events.stream({ ...client, after: 0, signal: stop.signal }))
      events.push(e);
  })().catch((err: unknown) => (failure = err));
  return {
    events,
    async stop() {
      stop.abort();
      await done;
      if (failure) throw failure;
    },
  };
}

const summary = (events: SandboxEvent[]) => events.map((e) => `${e.type} ${e.sandboxId}`);

describe("lifecycle events", () => {
  it("created, paused, resumed, terminated, expired and failed, each seen by its owner and the admin only; SDK, SSE resume and CLI", async () => {
    const keys = new Keys(daemon.client);
    const alice: ClientOptions = { url: daemon.url, token: (await keys.create("alice")).key };
    const bob: ClientOptions = { url: daemon.url, token: (await keys.create("bob")).key };
    const asAdmin = collect(daemon.client);
    const asAlice = collect(alice);
    const asBob = collect(bob);
    const cli = spawn(process.execPath, [CLI, "events", "--json", "--after", "0"], {
      env: { ...process.env, PADDOCK_URL: daemon.url, PADDOCK_TOKEN: alice.token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const cliLines: string[] = [];
    createInterface({ input: cli.stdout }).on("line", (l) => cliLines.push(l));
    const cliExit = new Promise<number | null>((r) => cli.once("close", r));

    const made: Sandbox[] = [];
    try {
      const paused = await Sandbox.create({ ...alice, runtime: "runc", memoryMiB: 64 });
      made.push(paused);
      // A stream starts when it is first read: `after: 0` gets what happened before that.
      const own = paused.events({ after: 0 });
      await paused.pause();
      await paused.resume();
      await paused.terminate();
      const ownEvents: SandboxEvent[] = [];
      for await (const e of own) {
        ownEvents.push(e);
        if (e.type === "terminated") break;
      }
      expect(ownEvents.map((e) => e.type)).toEqual(["created", "paused", "resumed", "terminated"]);

      const expiring = await Sandbox.create({
        ...alice,
        runtime: "runc",
        memoryMiB: 64,
        timeoutSeconds: 1,
      });
      made.push(expiring);
      const dying = await Sandbox.create({ ...alice, runtime: "runc", memoryMiB: 64 });
      made.push(dying);
      // Killed from the host, as an OOM or a crash would: the monitor ends it as failed.
      for (const pid of readFileSync(`/sys/fs/cgroup/pids/paddock/${dying.id}/cgroup.procs`, "utf8")
        .split("\n")
        .filter(Boolean))
        process.kill(Number(pid), "SIGKILL");
      const admins = await Sandbox.create({ ...daemon.client, runtime: "runc", memoryMiB: 64 });
      made.push(admins);
      await admins.terminate();

      const want = [
        `created ${paused.id}`,
        `paused ${paused.id}`,
        `resumed ${paused.id}`,
        `terminated ${paused.id}`,
        `created ${expiring.id}`,
        `created ${dying.id}`,
        `created ${admins.id}`,
        `terminated ${admins.id}`,
        `expired ${expiring.id}`,
        `failed ${dying.id}`,
      ];
      await vi.waitFor(
        () => expect(summary(asAdmin.events)).toEqual(expect.arrayContaining(want)),
        {
          timeout: 10_000,
        },
      );
      const aliceWant = want.filter((w) => !w.endsWith(admins.id));
      await vi.waitFor(() => expect(summary(asAlice.events).sort()).toEqual(aliceWant.sort()), {
        timeout: 5000,
      });
      expect(asBob.events).toEqual([]);

      const byKey = new Map(asAdmin.events.map((e) => [`${e.type} ${e.sandboxId}`, e]));
      expect(byKey.get(`expired ${expiring.id}`)!.reason).toBe("timeout");
      expect(byKey.get(`failed ${dying.id}`)!.reason).toMatch(/agent died/);
      expect(byKey.get(`created ${paused.id}`)).toMatchObject({ runtime: "runc", reason: null });
      for (const e of asAdmin.events) SandboxEventSchema.parse(e);
      const seqs = asAdmin.events.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

      // A client that comes back with Last-Event-ID gets what came after it.
      const third = asAdmin.events[2]!;
      const ac = new AbortController();
      const res = await fetch(`${daemon.url}/v1/events`, {
        headers: { authorization: `Bearer ${daemon.token}`, "last-event-id": String(third.seq) },
        signal: ac.signal,
      });
      expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const reader = res.body!.getReader();
      let text = "";
      while (!/^id: \d+$/m.test(text))
        text += new TextDecoder().decode((await reader.read()).value);
      ac.abort();
      expect(/^id: (\d+)$/m.exec(text)![1]).toBe(String(third.seq + 1));

      await vi.waitFor(() => expect(cliLines.length).toBe(aliceWant.length), { timeout: 5000 });
      expect(cliLines.map((l) => SandboxEventSchema.parse(JSON.parse(l)).type)).toContain(
        "expired",
      );
    } finally {
      cli.kill("SIGINT");
      await asAdmin.stop();
      await asAlice.stop();
      await asBob.stop();
      for (const s of made) await s.terminate().catch(() => {});
    }
    expect(await cliExit).toBe(0);
  });
});
