import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageUserOf } from "../src/processes/process-table.js";

let dir: string;
let files: { passwd: string; group: string };
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "paddock-image-user-"));
  files = { passwd: path.join(dir, "passwd"), group: path.join(dir, "group") };
  await writeFile(
    files.passwd,
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
  );
  await writeFile(files.group, "root:x:0:\napp:x:1000:\nstaff:x:50:app\n");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("an image's User", () => {
  it.each([
    ["app", { uid: 1000, gid: 1000 }],
    ["1000", { uid: 1000, gid: 1000 }],
    ["app:staff", { uid: 1000, gid: 50 }],
    ["app:7", { uid: 1000, gid: 7 }],
    ["1234", { uid: 1234, gid: 1234 }],
    ["1234:5", { uid: 1234, gid: 5 }],
    ["root", { uid: 0, gid: 0 }],
  ])("%s is %o", async (spec, ids) => {
    expect(await imageUserOf(spec, files)).toEqual(ids);
  });

  it.each([
    ["nobody-here", /no user "nobody-here"/],
    ["app:nogroup", /no group "nogroup".*"app:nogroup"/],
  ])("%s is refused", async (spec, why) => {
    await expect(imageUserOf(spec, files)).rejects.toThrow(why);
  });
});
