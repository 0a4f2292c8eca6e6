/** Where the agent listens, inside every sandbox. */
export const AGENT_MOUNT = "/.paddock";
export const AGENT_RUNTIME_DIR = `${AGENT_MOUNT}/runtime`;
export const AGENT_SOCKET_DIR = `${AGENT_MOUNT}/sock`;
export const AGENT_SOCKET_NAME = "agent.sock";

export const PROTOCOL_VERSION = "0.1.0";

/** Where the daemon listens and keeps its data unless told otherwise. */
export const DEFAULT_PORT = 7423;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_DATA_DIR = "/var/lib/paddock";

/**
 * Request headers the daemon and the agent accept. Paths travel in query strings: a path of
 * 4096 four-byte characters is 48 KiB once percent-encoded, past Node's 16 KiB default.
 */
export const MAX_HEADER_BYTES = 96 * 1024;

/**
 * Uploads of at least this many bytes, with a known length, go from the daemon to the agent as
 * an HTTP upgrade (`Upgrade: paddock-bytes`): after the 101 the bytes are read by a native
 * helper in the sandbox, not by the agent's Node, and the answer follows as one JSON line.
 */
export const BULK_UPLOAD_BYTES = 8 * 1024 * 1024;
export const BULK_UPGRADE = "paddock-bytes";
