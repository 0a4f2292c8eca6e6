import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InvalidRequestError, isPaddockError, type PaddockError } from "../src/errors.js";
import { Images } from "../src/images.js";
import { Keys } from "../src/keys.js";
import { Sandbox } from "../src/sandbox.js";
import { SANDBOX_INFO } from "./helpers/fake-daemon.js";

/**
 * A bad argument is refused by the SDK itself, as InvalidRequestError (code invalid_request,
 * status 400, like the daemon's), before any request is sent.
 */

let calls = 0;
const client = {
  url: "http://daemon.test",
  token: "t",
  fetch: (async () => {
    calls++;
    return new Response(JSON.stringify(SANDBOX_INFO), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  }) as typeof fetch,
};

let sandbox: Sandbox;
let localDir: string;
beforeAll(async () => {
  sandbox = await Sandbox.connect(SANDBOX_INFO.id, client);
  localDir = await mkdtemp(path.join(tmpdir(), "paddock-sdk-args-"));
});
afterAll(async () => {
  await rm(localDir, { recursive: true, force: true });
});
beforeEach(() => {
  calls = 0;
});

async function refused(call: () => Promise<unknown>): Promise<PaddockError> {
  const err = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPaddockError(err), String(err)).toBe(true);
  expect(err).toBeInstanceOf(InvalidRequestError);
  expect(err).toMatchObject({ code: "invalid_request", status: 400 });
  expect(calls, "no request may be sent").toBe(0);
  return err as PaddockError;
}

// Calls the types would refuse are made through this, as from plain JavaScript.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const untyped = (value: unknown): any => value;

describe("processes", () => {
  it.each<[string, () => Promise<unknown>, RegExp]>([
    ["an empty argv", () => sandbox.process.exec([]), /argv/],
    ["an empty program name", () => sandbox.process.exec(""), /program name is empty/],
    ["a NUL in an argument", () => sandbox.process.exec("echo", "a\0b"), /NUL/],
    ["a negative timeout", () => sandbox.process.exec(["ls"], { timeoutMs: -1 }), /timeoutMs/],
    ["an all-digit tag", () => sandbox.process.exec(["ls"], { tag: "123" }), /tag/],
    ["an unknown option", () => sandbox.process.exec(["ls"], untyped({ cwdd: "/" })), /cwdd/],
    [
      "an unknown language",
      () => sandbox.process.runCode("puts 1", untyped({ language: "ruby" })),
      /language/,
    ],
    ["a bad process ref", () => sandbox.process.attach("web server"), /ref/],
    ["an unknown signal", () => sandbox.process.kill(1, untyped("SIGFOO")), /signal/],
    ["port 0", () => sandbox.process.waitForPort(0), /port/],
    ["port 70000", () => sandbox.process.waitForPort(70_000), /port/],
  ])("%s", async (_what, call, message) => {
    expect((await refused(call)).message).toMatch(message);
  });
});

describe("files", () => {
  it.each<[string, () => Promise<unknown>, RegExp]>([
    ["a relative stat", () => sandbox.fs.statFile("etc/hosts"), /absolute/],
    ["an empty read", () => sandbox.fs.readFile(""), /empty/],
    ["a relative write", () => sandbox.fs.writeFile("relative.txt", "x"), /remotePath/],
    ["a relative list", () => sandbox.fs.listFiles("./x"), /absolute/],
    ["a relative delete", () => sandbox.fs.deleteFile("tmp"), /absolute/],
    ["a relative rename source", () => sandbox.fs.rename("a", "/b"), /from/],
    ["a mode above 0o7777", () => sandbox.fs.writeFile("/x", "x", { mode: 0o17777 }), /mode/],
    ["a negative mkdir mode", () => sandbox.fs.createDirectory("/x", { mode: -1 }), /mode/],
    ["a fractional chmod", () => sandbox.fs.chmod("/x", 1.5), /mode/],
    ["a relative find", () => sandbox.fs.findInFiles("app", "TODO"), /absolute/],
    ["a replace of no paths", () => sandbox.fs.replaceInFiles([], "a", "b"), /paths/],
    ["a relative download", () => sandbox.fs.downloadFile("x", path.join(localDir, "x")), /abs/],
    ["a relative directory download", () => sandbox.fs.downloadDirectory("x", localDir), /abs/],
    ["a relative batch path", () => sandbox.fs.uploadFiles([{ path: "a", source: "" }]), /abs/],
  ])("%s", async (_what, call, message) => {
    expect((await refused(call)).message).toMatch(message);
  });

  it("uploadFile of a local file that is not there names it", async () => {
    const missing = path.join(localDir, "no-such-file");
    const err = await refused(() => sandbox.fs.uploadFile(missing, "/data/x"));
    expect(err.message).toContain(missing);
    expect(err.details).toMatchObject({ localPath: missing, errno: "ENOENT" });
  });

  it("uploadFile of a directory, or of a URL that is not file:", async () => {
    expect((await refused(() => sandbox.fs.uploadFile(localDir, "/x"))).message).toMatch(
      /not a regular file/,
    );
    await refused(() => sandbox.fs.uploadFile(new URL("https://example.com/x"), "/x"));
  });

  it("uploadFiles with a local source that is not there", async () => {
    const missing = path.join(localDir, "gone.bin");
    const err = await refused(() => sandbox.fs.uploadFiles([{ path: "/a", source: missing }]));
    expect(err.message).toContain(missing);
  });

  it("uploadDirectory of a local directory that is not there", async () => {
    await refused(() => sandbox.fs.uploadDirectory(path.join(localDir, "none"), "/app"));
  });

  it("downloadFile into a local directory that is not there", async () => {
    const err = await refused(() =>
      sandbox.fs.downloadFile("/etc/hosts", path.join(localDir, "none", "hosts")),
    );
    expect(err.message).toContain(path.join(localDir, "none"));
  });
});

describe("sandboxes, images, keys, docker", () => {
  it.each<[string, () => Promise<unknown>, RegExp]>([
    ["a cpu below the minimum", () => Sandbox.create({ ...client, cpu: 0.01 }), /cpu must be/],
    [
      "an unknown runtime",
      () => Sandbox.create({ ...client, runtime: untyped("kata") }),
      /runtime/,
    ],
    [
      "an unknown field",
      () => Sandbox.create({ ...client, ...untyped({ imagee: "x" }) }),
      /imagee/,
    ],
    ["a bad label key", () => Sandbox.create({ ...client, labels: { "a b": "v" } }), /label keys/],
    ["an unknown state filter", () => Sandbox.list({ ...client, state: untyped("up") }), /state/],
    ["exposing port 0", () => sandbox.exposePort(0), /port/],
    ["unexposing port -1", () => sandbox.unexposePort(-1), /port/],
    ["a bad image name", () => new Images(client).build("Debian Latest"), /image names/],
    ["a bad key name", () => new Keys(client).create("CI key"), /key names/],
    ["a docker image starting with -", () => sandbox.docker.run("--privileged"), /image/],
    ["a relative compose file", () => sandbox.docker.composeUp("compose.yml"), /absolute/],
    ["a bad importAs", () => sandbox.docker.load(new Uint8Array(), { importAs: "A B" }), /import/],
    [
      "an allow entry that is neither address nor domain",
      () =>
        Sandbox.create({ ...client, network: { egress: "allowlist", allow: ["http://x.org"] } }),
      /an IP address, a CIDR/,
    ],
    [
      "allow entries without an allowlist",
      () => Sandbox.create({ ...client, network: { egress: "all", allow: ["x.org"] } }),
      /allow entries need egress "allowlist"/,
    ],
    [
      "an unknown egress in an update",
      () => sandbox.network.update({ egress: untyped("some") }),
      /egress is one of none, all, allowlist/,
    ],
  ])("%s", async (_what, call, message) => {
    expect((await refused(call)).message).toMatch(message);
  });
});
