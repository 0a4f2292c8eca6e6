import { ProcessEventSchema, type SandboxInfo } from "@paddock/protocol";
import { DaemonClient, readText } from "./daemon-client.js";
import { RestError } from "./errors.js";

/** The SDK's default template. */
export const BASE_TEMPLATE = "base";
/** Labels the E2B layer keeps on the sandboxes it creates. */
export const TEMPLATE_LABEL = "e2b.template";
export const METADATA_PREFIX = "e2b.meta/";
/** The user E2B's templates run as unless asked otherwise, and its home. */
export const DEFAULT_USER = "user";

/**
 * Which Paddock image a template runs: `base` is the built-in debian (bash, python3) with the
 * user `user` added at create; any other name is a Paddock image of that name (built-in, pulled,
 * imported or built), and a name the daemon does not have is its 404, which the SDK reports.
 */
export function imageOf(template: string): string {
  return template === BASE_TEMPLATE ? "debian" : template;
}

/** The template a sandbox was created from: its label, else its image (a Paddock-made sandbox). */
export function templateOf(info: SandboxInfo): string {
  return info.labels[TEMPLATE_LABEL] ?? info.image;
}

/** E2B metadata kept as labels under METADATA_PREFIX, and back. */
export function metadataToLabels(metadata: Record<string, string> = {}): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") throw new RestError(400, `metadata ${key} must be a string`);
    labels[METADATA_PREFIX + key] = value;
  }
  return labels;
}

export function metadataOf(info: SandboxInfo): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(info.labels)) {
    if (key.startsWith(METADATA_PREFIX)) metadata[key.slice(METADATA_PREFIX.length)] = value;
  }
  return metadata;
}

/**
 * Makes `base` what E2B's SDK expects: a user `user` with its home at /home/user and bash as its
 * shell. One useradd at create, run as root through Paddock's process API (about as long as one
 * command), instead of a second copy of the debian image to keep in step with the built-in one.
 */
export async function provision(client: DaemonClient, id: string, template: string): Promise<void> {
  if (template !== BASE_TEMPLATE) return;
  const res = await client.send("POST", DaemonClient.sandbox(id, "/processes"), {
    json: {
      argv: ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", DEFAULT_USER],
      user: "root",
    },
  });
  let exit: number | null = null;
  let stderr = "";
  for (const line of (await readText(res)).split("\n")) {
    if (!line) continue;
    const event = ProcessEventSchema.safeParse(JSON.parse(line));
    if (!event.success) continue;
    if (event.data.type === "stderr") stderr += Buffer.from(event.data.data, "base64").toString();
    if (event.data.type === "exit") exit = event.data.exitCode;
  }
  // 9: the user exists already (an image that has it).
  if (exit !== 0 && exit !== 9) {
    throw new RestError(
      500,
      `adding the user ${DEFAULT_USER} to the base template failed: ${stderr.trim()}`,
    );
  }
}
