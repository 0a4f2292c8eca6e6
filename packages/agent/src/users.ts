import { readFile } from "node:fs/promises";
import { AgentError } from "./router.js";

export interface UserIdentity {
  uid: number;
  gid: number;
  name: string;
  home: string;
}

/** Finds a user by name or uid in the sandbox's own /etc/passwd. */
export async function resolveUser(
  user: string | number,
  passwdFile = "/etc/passwd",
): Promise<UserIdentity> {
  const text = await readFile(passwdFile, "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    const [name, , uid, gid, , home] = line.split(":");
    if (name === undefined || uid === undefined || gid === undefined) continue;
    if (name === user || Number(uid) === user)
      return { uid: Number(uid), gid: Number(gid), name, home: home || "/" };
  }
  // A bare uid with no passwd entry is allowed, as in `docker run --user 1234`.
  if (typeof user === "number") return { uid: user, gid: user, name: String(user), home: "/" };
  throw new AgentError("invalid_request", `no user "${user}" in the sandbox's /etc/passwd`);
}
