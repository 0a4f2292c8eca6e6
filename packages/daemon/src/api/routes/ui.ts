import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
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
  size: number;
}

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
  let names: string[];
  try {
    names = await readdir(root, { recursive: true });
  } catch {
    return undefined;
  }
  for (const name of names) {
    const file = path.join(root, name);
    const info = await stat(file);
    if (!info.isFile()) continue;
    const type = CONTENT_TYPES[path.extname(name)] ?? "application/octet-stream";
    files.set(`/${name.split(path.sep).join("/")}`, { file, type, size: info.size });
  }
  return files.has("/index.html") ? files : undefined;
}

function send(reply: FastifyReply, found: StaticFile, immutable: boolean): FastifyReply {
  return reply
    .header("content-type", found.type)
    .header("content-length", found.size)
    .header("cache-control", immutable ? "public, max-age=31536000, immutable" : "no-cache")
    .send(createReadStream(found.file));
}

/**
 * The web console (packages/console): static files read once at start, so only files the build
 * made can be served (no path from the URL ever reaches the filesystem). They need no token; the
 * page sends the key it is given as a bearer token on every API call.
 */
export function uiRoutes(): FastifyPluginAsync {
  return async (app) => {
    const files = await findFiles();
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
      if (!files) {
        throw new PaddockError(
          "not_found",
          "the web console is not built: run `npm run build` (it builds packages/console)",
        );
      }
      const rest = (request.params as { "*": string })["*"];
      const wanted = rest === "" ? "/index.html" : `/${rest}`;
      const found = files.get(wanted);
      if (!found) {
        throw new PaddockError(
          "not_found",
          `no console file ${UI_PREFIX}${wanted}; open ${UI_PREFIX}/`,
        );
      }
      // Vite names every asset by its content hash; only index.html changes under one name.
      return send(reply, found, wanted.startsWith("/assets/"));
    });
  };
}
