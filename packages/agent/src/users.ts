import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { AgentError } from "./router.js";

export interface UserIdentity {
  uid: number;
  gid: number;
  name: string;
  home: string;
  /** The login shell from /etc/passwd; undefined when the entry names none. */
  shell?: string;
}

/** The shell of a user without one, or whose shell is not in the image. */
export const FALLBACK_SHELL = "/bin/sh";

/** Reads a user's entry by name or uid from the sandbox's own /etc/passwd. */
async function findUser(
  user: string | number,
  passwdFile: string,
): Promise<UserIdentity | undefined> {
  const text = await readFile(passwdFile, "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    const [name, , uid, gid, , home, shell] = line.split(":");
    if (name === undefined || uid === undefined || gid === undefined) continue;
    if (name === user || Number(uid) === user)
      return {
        uid: Number(uid),
        gid: Number(gid),
        name,
        home: home || "/",
        shell: shell || undefined,
      };
  }
  return undefined;
}

/** Finds a user by name or uid in the sandbox's own /etc/passwd. */
export async function resolveUser(
  user: string | number,
  passwdFile = "/etc/passwd",
): Promise<UserIdentity> {
  const found = await findUser(user, passwdFile);
  if (found) return found;
  // A bare uid with no passwd entry is allowed, as in `docker run --user 1234`.
  if (typeof user === "number") return { uid: user, gid: user, name: String(user), home: "/" };
  throw new AgentError("invalid_request", `no user "${user}" in the sandbox's /etc/passwd`);
}

/**
 * The login shell a terminal with no command runs: the user's (else the agent's own uid's) from
 * /etc/passwd, when the image has it; else /bin/sh.
 */
export async function loginShell(
  user: string | number = process.getuid?.() ?? 0,
  passwdFile = "/etc/passwd",
): Promise<string> {
  const shell = (await findUser(user, passwdFile))?.shell;
  if (shell === undefined) return FALLBACK_SHELL;
  const runnable = await access(shell, constants.X_OK).then(
    () => true,
    () => false,
  );
  return runnable ? shell : FALLBACK_SHELL;
}
