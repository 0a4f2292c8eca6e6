import type { FastifyError, FastifyInstance } from "fastify";
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

export function toErrorBody(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof PaddockError) {
    const error: ErrorBody["error"] = { code: err.code, message: err.message };
    if (err.details) error.details = err.details;
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

export function registerErrorHandler(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err, request, reply) => {
    const { status, body } = toErrorBody(err);
    if (status >= 500) log.error({ err, url: request.url }, "request failed");
    void reply.status(status).send(body);
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
