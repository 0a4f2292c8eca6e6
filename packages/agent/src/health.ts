import { PROTOCOL_VERSION } from "@paddock/protocol";
import { agentStarts } from "./generation.js";
import { sendJson, type Handler } from "./router.js";

export const health: Handler = (_req, res) => {
  sendJson(res, 200, { status: "ok", version: PROTOCOL_VERSION, agentStarts });
};
