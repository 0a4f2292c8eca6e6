import type { Readable, Writable } from "node:stream";

/**
 * Streams a client's request body to the agent. If the agent stops taking it (it answered
 * early, a refusal, and closed), the rest is dropped (see dropRest); a client that goes away
 * mid-body cuts the agent's side off too.
 */
export function sendBody(body: Readable, to: Writable, { end = true } = {}): void {
  if (body.destroyed && !body.readableEnded) {
    // The client left before there was anywhere to send it.
    to.destroy();
    return;
  }
  body.pipe(to, { end });
  to.once("error", () => dropRest(body, to));
  to.once("close", () => dropRest(body, to));
  body.once("error", () => to.destroy());
  body.once("close", () => {
    if (!body.readableEnded) to.destroy();
  });
}

/**
 * Reads and drops what is left of a client's body once nothing takes it (the answer came
 * early): the client can finish sending and read the answer on a connection that stays
 * usable. Left paused, the body would hold Node's parser on this connection forever; destroyed,
 * it would reset the connection under a client still sending. Returns whether any was left.
 */
export function dropRest(body: Readable, from?: Writable): boolean {
  if (body.readableEnded) return false;
  if (from) body.unpipe(from);
  body.resume();
  return true;
}
