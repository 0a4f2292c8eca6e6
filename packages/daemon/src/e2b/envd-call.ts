import type { CallContext } from "./connect.js";
import type { DaemonClient } from "./daemon-client.js";
import { DEFAULT_USER } from "./templates.js";

/** One envd call: whose, to which sandbox, as which user inside it. */
export interface EnvdCall extends CallContext {
  client: DaemonClient;
  sandboxId: string;
  /** From the SDK's `Authorization: Basic base64(user:)`; envd's default user otherwise. */
  user: string;
}

export type EnvdMethod =
  | { kind: "unary"; handler: (message: unknown, call: EnvdCall) => Promise<unknown> }
  | { kind: "stream"; handler: (message: unknown, call: EnvdCall) => AsyncIterable<unknown> };

/** The user named by a Basic authorization header (E2B sends `user:` with no password). */
export function userOf(authorization: string | undefined): string {
  const match = /^Basic\s+(\S+)$/i.exec(authorization ?? "");
  if (!match) return DEFAULT_USER;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const name = decoded.slice(0, decoded.indexOf(":") === -1 ? undefined : decoded.indexOf(":"));
  return name || DEFAULT_USER;
}

/** A user's home, where relative paths and commands without cwd start (as in envd). */
export function homeOf(user: string): string {
  return user === "root" ? "/root" : `/home/${user}`;
}

/** An absolute path: relative ones are taken from the user's home, as envd does. */
export function resolvePath(path: string, user: string): string {
  if (path.startsWith("/")) return path;
  if (path === "~" || path === "") return homeOf(user);
  return `${homeOf(user)}/${path.startsWith("~/") ? path.slice(2) : path}`;
}
