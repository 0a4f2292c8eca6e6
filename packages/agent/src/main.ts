import { createServer } from "node:http";
import {
  AGENT_ENV,
  AGENT_SOCKET_DIR,
  AGENT_SOCKET_NAME,
  MAX_HEADER_BYTES,
} from "@paddock/protocol";
import { Router } from "./router.js";
import { health } from "./health.js";
import { Listener } from "./listener.js";

const socketPath = process.env[AGENT_ENV.socket] ?? `${AGENT_SOCKET_DIR}/${AGENT_SOCKET_NAME}`;
const listenFd = process.env[AGENT_ENV.listenFd];

// Requests reach the router (made below) only once listen is called.
const server = createServer(
  { maxHeaderSize: MAX_HEADER_BYTES },
  (req, res) => void router.handle(req, res),
);
// Tunnels to ports inside the sandbox and large uploads arrive as HTTP upgrades.
server.on("upgrade", (req, socket, head) => void router.handleUpgrade(req, socket, head));
// The daemon keeps connections alive across calls; never time them out from this side.
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
// Counts connections from the start, so that a pause can cut every one.
const listener = new Listener(server, socketPath);

// Health answers first; the other routes (and zod, which they validate with) load only once the
// first health answer is out: loading them takes tens of ms under gVisor, and create waits for
// that first answer. A request for another route before then loads them itself.
const router: Router = new Router()
  .lazy(async () => (await import("./routes.js")).registerRoutes(router))
  .on("GET", "/health", (req, res, url) => {
    health(req, res, url);
    res.once("finish", () => setImmediate(() => void router.loadNow()));
  })
  .on("POST", "/lifecycle/release", listener.release);

// paddock-init made the socket and keeps it across agent restarts; without it (run on its own,
// or restarted after a restore) the agent binds the path itself.
listener.listen(listenFd === undefined ? undefined : Number(listenFd));
// After a restore (see listener.ts): the daemon sends it through tini and paddock-init.
process.on("SIGUSR2", () => listener.relisten());

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
