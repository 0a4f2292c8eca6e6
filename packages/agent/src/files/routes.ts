import {
  BULK_UPGRADE,
  ChmodRequestSchema,
  DeleteFileQuerySchema,
  FindRequestSchema,
  MkdirQuerySchema,
  PathQuerySchema,
  RenameRequestSchema,
  ReplaceRequestSchema,
  WatchQuerySchema,
  WriteFileQuerySchema,
} from "@paddock/protocol";
import { readJson, readQuery } from "../http-body.js";
import { sendJson, type Router } from "../router.js";
import { extractInto, packDirectory, requireDirectory } from "./archive.js";
import { atomicWrite } from "./atomic-write.js";
import { bulkWrite } from "./bulk-write.js";
import { entryFor } from "./entry.js";
import * as ops from "./operations.js";
import { realSandboxPath } from "./paths.js";

const follow = { followFinal: true };
import { openRegularFile, sendFile } from "./read.js";
import { findInFiles, replaceInFiles } from "./search.js";
import { streamWatch } from "./watch.js";

/**
 * File routes. Every one runs here, inside the sandbox, so what is written is what the
 * sandbox's processes see on either runtime, and a symlink can only lead within the sandbox.
 */
export function registerFileRoutes(router: Router, limits: { maxUploadBytes: number }): void {
  router
    .onUpgrade(BULK_UPGRADE, bulkWrite(limits))
    .on("PUT", "/files/write", async (req, res, url) => {
      const q = readQuery(url, WriteFileQuerySchema);
      const target = realSandboxPath(q.path);
      await atomicWrite(target, req, {
        mode: q.mode,
        parents: q.parents,
        maxBytes: limits.maxUploadBytes,
      });
      sendJson(res, 200, await entryFor(target));
    })
    .on("GET", "/files/read", async (_req, res, url) => {
      const p = realSandboxPath(readQuery(url, PathQuerySchema).path, follow);
      await sendFile(res, await openRegularFile(p), p);
    })
    .on("GET", "/files/stat", async (_req, res, url) => {
      sendJson(res, 200, await ops.stat(realSandboxPath(readQuery(url, PathQuerySchema).path)));
    })
    .on("GET", "/files/list", async (_req, res, url) => {
      sendJson(res, 200, {
        entries: await ops.list(realSandboxPath(readQuery(url, PathQuerySchema).path, follow)),
      });
    })
    .on("DELETE", "/files", async (_req, res, url) => {
      const q = readQuery(url, DeleteFileQuerySchema);
      const target = realSandboxPath(q.path);
      await ops.remove(target, q.recursive);
      sendJson(res, 200, { deleted: target });
    })
    .on("POST", "/files/mkdir", async (_req, res, url) => {
      const q = readQuery(url, MkdirQuerySchema);
      sendJson(res, 200, await ops.makeDirectory(realSandboxPath(q.path), q.mode, q.parents));
    })
    .on("POST", "/files/rename", async (req, res) => {
      const body = await readJson(req, RenameRequestSchema);
      sendJson(res, 200, await ops.move(realSandboxPath(body.from), realSandboxPath(body.to)));
    })
    .on("POST", "/files/chmod", async (req, res) => {
      const body = await readJson(req, ChmodRequestSchema);
      sendJson(res, 200, await ops.changeMode(realSandboxPath(body.path), body.mode));
    })
    .on("PUT", "/files/archive", async (req, res, url) => {
      const dir = realSandboxPath(readQuery(url, PathQuerySchema).path);
      sendJson(res, 200, { results: await extractInto(dir, req) });
    })
    .on("GET", "/files/archive", async (_req, res, url) => {
      const dir = realSandboxPath(readQuery(url, PathQuerySchema).path, follow);
      await requireDirectory(dir);
      res.writeHead(200, { "content-type": "application/x-tar" });
      await packDirectory(dir, res).catch(() => res.destroy());
    })
    .on("GET", "/files/watch", async (_req, res, url) => {
      const q = readQuery(url, WatchQuerySchema);
      await streamWatch(realSandboxPath(q.path, follow), q.recursive, res);
    })
    .on("POST", "/files/find", async (req, res) => {
      const body = await readJson(req, FindRequestSchema);
      sendJson(
        res,
        200,
        await findInFiles(
          realSandboxPath(body.path, follow),
          body.pattern,
          body.glob,
          body.maxMatches,
        ),
      );
    })
    .on("POST", "/files/replace", async (req, res) => {
      const body = await readJson(req, ReplaceRequestSchema);
      sendJson(res, 200, {
        changed: await replaceInFiles(body.paths, body.pattern, body.replacement),
      });
    });
}
