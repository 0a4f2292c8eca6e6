export { startDaemon, type RunningDaemon } from "./daemon.js";
export { resolveConfig, type DaemonConfig } from "./config.js";
export { Layout } from "./layout.js";
