import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { statusForCode, type ErrorBody, type ErrorCode } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import type { Logger } from "../logger.js";

/** Fastify's own error codes that are the client's fault, with the code we report. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_request",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_request",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "invalid_request",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "invalid_request",
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_VALIDATION: "invalid_request",
};

/** Messages that say what to do instead of Fastify's own. */
const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE:
    "unsupported content-type: send JSON bodies as application/json, uploads as application/octet-stream (tar archives as application/x-tar)",
};

/** Who reads an error: the admin token sees the host's side of it, an API key does not. */
export interface ErrorViewer {
  admin: boolean;
  /** The daemon's own directories (data dir, image store): never shown to an API key. */
  hostDirs?: readonly string[];
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `text` with every path under one of `dirs` replaced by `<host path>`. */
export function withoutHostPaths(text: string, dirs: readonly string[]): string {
  const roots = dirs.filter((d) => d.length > 1).map((d) => escapeRegExp(d.replace(/\/+$/, "")));
  if (roots.length === 0) return text;
  // The whole path goes, not only its root: the rest (sandboxes/<id>/sock/…) is the layout.
  const paths = new RegExp(`(?:${roots.join("|")})(?=$|[/\\s'"\`),;:])[^\\s'"\`),;:]*`, "g");
  return text.replace(paths, "<host path>");
}

function redact(value: unknown, dirs: readonly string[]): unknown {
  if (typeof value === "string") return withoutHostPaths(value, dirs);
  if (Array.isArray(value)) return value.map((v) => redact(v, dirs));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, dirs)]));
  }
  return value;
}

/**
 * The answer to an error. The admin sees a PaddockError's host details among its details; an
 * API key (the default: the least shown) sees neither those nor any path under the daemon's
 * directories, which a message may carry from a failed host call.
 */
export function toErrorBody(
  err: unknown,
  viewer: ErrorViewer = { admin: false },
): { status: number; body: ErrorBody } {
  if (err instanceof PaddockError) {
    let message = err.message;
    let details = err.details;
    if (viewer.admin) {
      if (err.hostDetails) details = { ...details, ...err.hostDetails };
    } else {
      const dirs = viewer.hostDirs ?? [];
      message = withoutHostPaths(message, dirs);
      if (details) details = redact(details, dirs) as Record<string, unknown>;
    }
    const error: ErrorBody["error"] = { code: err.code, message };
    if (details) error.details = details;
    return { status: statusForCode(err.code), body: { error } };
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issues = err.validation.map((v) => {
      const where = v.instancePath
        ? v.instancePath.slice(1).replace(/\//g, ".")
        : err.validationContext;
      return `${where}: ${v.message}`;
    });
    return {
      status: 400,
      body: {
        error: {
          code: "invalid_request",
          message: `invalid request: ${issues.join("; ")}`,
          details: { issues },
        },
      },
    };
  }
  const fastifyCode = (err as FastifyError | null | undefined)?.code;
  const code = fastifyCode ? FASTIFY_CODES[fastifyCode] : undefined;
  if (code) {
    return {
      status: statusForCode(code),
      body: { error: { code, message: FASTIFY_MESSAGES[fastifyCode!] ?? (err as Error).message } },
    };
  }
  return {
    status: 500,
    body: { error: { code: "internal", message: "internal error; the daemon's log has details" } },
  };
}

/** The viewer of errors answered to `request`: the admin only when its token was checked. */
export function errorViewer(
  request: FastifyRequest,
  hostDirs: readonly string[] = [],
): ErrorViewer {
  return { admin: request.principal?.admin === true, hostDirs };
}

/** How long a refused body may take to be read and dropped before the answer goes anyway. */
const DRAIN_REFUSED_BODY_MS = 10_000;

export function registerErrorHandler(
  app: FastifyInstance,
  log: Logger,
  hostDirs: readonly string[] = [],
): void {
  app.setErrorHandler((err, request, reply) => {
    const viewer = errorViewer(request, hostDirs);
    const { status, body } = toErrorBody(err, viewer);
    if (status >= 500) log.error({ err, url: request.url }, "request failed");
    else if (!viewer.admin && err instanceof PaddockError && err.hostDetails) {
      log.warn({ url: request.url, code: err.code, ...err.hostDetails }, "request failed");
    }
    const send = () => void reply.status(status).send(body);
    // A JSON body refused before it was read (over the limit): answered at once, Node closes the
    // connection under a client still sending, which then sees EPIPE instead of the answer.
    // Read and drop the rest first (memory stays flat), for at most DRAIN_REFUSED_BODY_MS.
    const raw = request.raw;
    const unread = (err as FastifyError).code === "FST_ERR_CTP_BODY_TOO_LARGE";
    if (!unread || raw.complete || raw.readableEnded || raw.destroyed) return send();
    const timer = setTimeout(done, DRAIN_REFUSED_BODY_MS);
    function done() {
      clearTimeout(timer);
      raw.off("end", done).off("error", done).off("close", done);
      send();
    }
    raw.once("end", done).once("error", done).once("close", done);
    raw.resume();
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      error: {
        code: "route_not_found",
        message: `no route ${request.method} ${request.url}; see /openapi.json`,
      },
    });
  });
}
