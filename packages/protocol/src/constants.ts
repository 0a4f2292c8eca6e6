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

/**
 * `GET /tunnel?port=N` with `Upgrade: paddock-tcp`: after the 101 the connection is a plain byte
 * stream to port N on the sandbox's loopback (how exposed ports reach the sandbox).
 */
export const TUNNEL_UPGRADE = "paddock-tcp";
/**
 * The agent's upgrade for a live process stream (`GET /processes/stream?ref=&output=`): after the
 * 101 the agent sends the process's event lines (as `/processes/events`) and reads ProcessInput
 * lines; it closes after the exit event.
 */
export const PROCESS_STREAM_UPGRADE = "paddock-process";

/**
 * The agent's DNS upgrade (`GET /dns`), opened by the daemon to a sandbox with a network: the
 * agent's resolver on the sandbox's 127.0.0.1:53 sends each query on it as a frame (see
 * dns-frames.ts), the daemon answers with a frame of the same tag.
 */
export const DNS_UPGRADE = "paddock-dns";

/** The dynamic loader in the agent's runtime dir, copied from the host (see AGENT_NODE_ARGV). */
export const AGENT_LOADER_NAME = "ld-linux-x86-64.so.2";

/**
 * The agent's node as a command line that runs in any image: the host's node, started through
 * the host's loader and libraries copied into the runtime dir.
 */
export const AGENT_NODE_ARGV = [
  `${AGENT_RUNTIME_DIR}/${AGENT_LOADER_NAME}`,
  "--library-path",
  `${AGENT_RUNTIME_DIR}/lib`,
  `${AGENT_RUNTIME_DIR}/node`,
] as const;

/**
 * The environment the daemon gives a sandbox's init and agent. The user's `env` travels inside
 * one of them as JSON and reaches user processes only, never the agent's own node
 * (`NODE_OPTIONS`, `LD_PRELOAD` and the like would otherwise hijack it).
 */
export const AGENT_ENV = {
  socket: "PADDOCK_AGENT_SOCKET",
  /** The listening socket's descriptor, opened by paddock-init and kept across agent restarts. */
  listenFd: "PADDOCK_AGENT_LISTEN_FD",
  /** How many times paddock-init has started the agent (1 for the first). */
  generation: "PADDOCK_AGENT_GENERATION",
  sandboxId: "PADDOCK_SANDBOX_ID",
  /** The sandbox's env for user processes, as a JSON object. */
  userEnv: "PADDOCK_USER_ENV",
  maxUploadBytes: "PADDOCK_MAX_UPLOAD_BYTES",
  maxProcesses: "PADDOCK_MAX_PROCESSES",
  processHistoryBytes: "PADDOCK_PROCESS_HISTORY_BYTES",
  totalHistoryBytes: "PADDOCK_TOTAL_HISTORY_BYTES",
  /** RLIMIT_NPROC for user processes (gVisor: the process limit is kept inside the sandbox). */
  processLimit: "PADDOCK_PROCESS_LIMIT",
  /** Set under gVisor, whose terminals keep ^C in the input line (see spawner.c). */
  ptyEraseSignalChars: "PADDOCK_PTY_ERASE_SIGNAL_CHARS",
  /** The image's WorkingDir: the cwd of processes that name none. */
  defaultCwd: "PADDOCK_DEFAULT_CWD",
  /** The image's User (name, uid, name:group or uid:gid): the user of processes that name none. */
  defaultUser: "PADDOCK_DEFAULT_USER",
  /** "1" when the sandbox has a network: the agent writes /etc/resolv.conf and serves DNS on 127.0.0.1:53. */
  network: "PADDOCK_NETWORK",
} as const;

/** PATH of user processes unless the sandbox's env sets another. */
export const SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Output history kept by the agent: per process, and all processes together. */
export const DEFAULT_PROCESS_HISTORY_BYTES = 1024 * 1024;
export const DEFAULT_TOTAL_HISTORY_BYTES = 16 * 1024 * 1024;

/**
 * A sandbox's limits unless the daemon's config says otherwise; the daemon sends its own to the
 * agent (AGENT_ENV), and the agent falls back on these.
 */
export const DEFAULT_SANDBOX_LIMITS = {
  maxUploadBytes: 16 * 1024 ** 3,
  maxProcesses: 256,
  processHistoryBytes: DEFAULT_PROCESS_HISTORY_BYTES,
} as const;
