import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, link, readFile, unlink, writeFile } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import { PaddockError } from "../errors.js";
import type { KeyStore } from "../state/key-store.js";

/** Reads the API token, generating one (mode 0600) on first start. */
export async function loadOrCreateToken(file: string): Promise<string> {
  for (;;) {
    try {
      const token = (await readFile(file, "utf8")).trim();
      if (token) return token;
      // An empty leftover (a crash, a `touch`): replace it.
      await unlink(file).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const token = `pdk_${randomBytes(32).toString("base64url")}`;
    // Written whole under a temporary name, then linked into place: link fails if another
    // daemon got there first, and then its token is the one read on the next pass.
    const tmp = `${file}.${randomBytes(6).toString("hex")}`;
    await writeFile(tmp, `${token}\n`, { mode: 0o600, flag: "wx" });
    try {
      await chmod(tmp, 0o600);
      await link(tmp, file);
      return token;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Who is calling: the admin (the daemon's own token) or a named API key. */
export interface Principal {
  admin: boolean;
  /** The key's name; null for the admin. Sandboxes record it as their owner. */
  name: string | null;
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** Only the admin token may call this route. */
    adminOnly?: boolean;
    /** Anyone may call this route without a token (an operator's choice, e.g. --metrics-public). */
    public?: boolean;
  }
}

/** Routes anyone may call without a token (the web console's static files: routes/ui.ts). */
const PUBLIC_ROUTES = new Set(["/health", "/ui", "/ui/*"]);

/**
 * Every route but health needs `Authorization: Bearer <token>`: the admin token (compared in
 * constant time) or a live API key (looked up by its hash). A revoked key fails at once.
 */
export function registerAuth(app: FastifyInstance, token: string, keys: KeyStore): void {
  const expected = digest(token);
  app.decorateRequest("principal", null as unknown as Principal);
  app.addHook("onRequest", async (request) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? "")) return;
    if (request.routeOptions.config.public) return;
    const header = request.headers.authorization ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new PaddockError(
        "unauthorized",
        "missing `Authorization: Bearer <token>`; set PADDOCK_TOKEN to the token in the daemon's data dir or to an API key",
      );
    }
    if (timingSafeEqual(digest(match[1]!), expected)) {
      request.principal = { admin: true, name: null };
      return;
    }
    const name = keys.nameFor(match[1]!);
    if (!name) throw new PaddockError("unauthorized", "the token is wrong or the key was revoked");
    request.principal = { admin: false, name };
  });
  app.addHook("preHandler", async (request) => {
    if (request.routeOptions.config.adminOnly && !request.principal?.admin) {
      throw new PaddockError(
        "forbidden",
        "this needs the admin token (the daemon's token file), not an API key",
      );
    }
  });
}
