export { Router, AgentError, sendJson, sendError } from "./router.js";
