export { startDaemon, type RunningDaemon } from "./daemon.js";
export { resolveConfig, DEFAULT_DATA_DIR, DEFAULT_PORT, DEFAULT_HOST, type DaemonConfig } from "./config.js";
export { Layout } from "./layout.js";
