import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, link, readFile, unlink, writeFile } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import { PaddockError } from "../errors.js";

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

/** Routes anyone may call without a token. */
const PUBLIC_ROUTES = new Set(["/health"]);

/** Every route but health needs `Authorization: Bearer <token>`; compared in constant time. */
export function registerAuth(app: FastifyInstance, token: string): void {
  const expected = digest(token);
  app.addHook("onRequest", async (request) => {
    if (PUBLIC_ROUTES.has(request.routeOptions.url ?? "")) return;
    const header = request.headers.authorization ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new PaddockError(
        "unauthorized",
        match
          ? "the API token is wrong; use the token in the daemon's data dir (file `token`)"
          : "missing `Authorization: Bearer <token>`; set PADDOCK_TOKEN to the token in the daemon's data dir",
      );
    }
  });
}
