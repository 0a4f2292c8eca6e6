import { open, readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { FastifyPluginAsync } from "fastify";
import { PaddockError } from "../../errors.js";

/** Where the console is served; PUBLIC_ROUTES in auth.ts lists these routes. */
export const UI_PREFIX = "/ui";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The page loads only its own files and talks only to this daemon. Styles allow inline ones:
 * xterm.js writes its theme into a <style> element; scripts stay 'self' only.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

interface StaticFile {
  file: string;
  type: string;
}

/** A rebuild while the daemon runs renames the assets; a miss looks again, at most this often. */
const RESCAN_MS = 1000;

/** The console's built files (packages/console/dist), by URL path under UI_PREFIX. */
async function findFiles(): Promise<Map<string, StaticFile> | undefined> {
  let root: string;
  try {
    const require = createRequire(import.meta.url);
    root = path.join(path.dirname(require.resolve("@paddock/console/package.json")), "dist");
  } catch {
    return undefined;
  }
  const files = new Map<string, StaticFile>();
  let entries;
  try {
    entries = await readdir(root, { recursive: true, withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const type = CONTENT_TYPES[path.extname(entry.name)] ?? "application/octet-stream";
    files.set(`/${path.relative(root, file).split(path.sep).join("/")}`, { file, type });
  }
  return files.has("/index.html") ? files : undefined;
}

/** Opens a file the build made; undefined if it is gone (a rebuild) or was never there. */
async function openFile(files: Map<string, StaticFile> | undefined, wanted: string) {
  const found = files?.get(wanted);
  if (!found) return undefined;
  try {
    return { ...found, handle: await open(found.file, "r") };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * The web console (packages/console): only files the build made are served, looked up by name in
 * the build's own listing (no path from the URL ever reaches the filesystem). They need no
 * token; the page sends the key it is given as a bearer token on every API call.
 */
export function uiRoutes(): FastifyPluginAsync {
  return async (app) => {
    let files = await findFiles();
    let scannedAt = Date.now();
    // This plugin's own routes only (Fastify scopes a plugin's hooks to it).
    app.addHook("onSend", async (_request, reply) => {
      reply.header("content-security-policy", CSP);
      reply.header("x-content-type-options", "nosniff");
      reply.header("referrer-policy", "no-referrer");
      reply.header("x-frame-options", "DENY");
    });
    app.get(UI_PREFIX, { schema: { hide: true } }, async (_request, reply) =>
      reply.redirect(`${UI_PREFIX}/`),
    );
    app.get(`${UI_PREFIX}/*`, { schema: { hide: true } }, async (request, reply) => {
      const rest = (request.params as { "*": string })["*"];
      const wanted = rest === "" ? "/index.html" : `/${rest}`;
      let opened = await openFile(files, wanted);
      if (!opened && Date.now() - scannedAt >= RESCAN_MS) {
        files = await findFiles();
        scannedAt = Date.now();
        opened = await openFile(files, wanted);
      }
      if (!files) {
        throw new PaddockError(
          "not_found",
          "the web console is not built: run `npm run build` (it builds packages/console)",
        );
      }
      if (!opened) {
        throw new PaddockError(
          "not_found",
          `no console file ${UI_PREFIX}${wanted}; open ${UI_PREFIX}/`,
        );
      }
      const { handle, type } = opened;
      // The size of what is read: the open file, even if a rebuild replaces it meanwhile.
      const size = (
        await handle.stat().catch(async (err: unknown) => {
          await handle.close();
          throw err;
        })
      ).size;
      // Vite names every asset by its content hash; only index.html changes under one name.
      const immutable = wanted.startsWith("/assets/");
      return reply
        .header("content-type", type)
        .header("content-length", size)
        .header("cache-control", immutable ? "public, max-age=31536000, immutable" : "no-cache")
        .send(handle.createReadStream());
    });
  };
}
