import { randomBytes } from "node:crypto";
import { CODE_LIMITS, type CodeContextLanguage, type CodeContextSpec } from "@paddock/protocol";
import { agentStarts } from "../generation.js";
import { AgentError } from "../router.js";
import { CodeContext, type CodeContextDeps } from "./code-context.js";

/** The id of a language's default context, the one a run without a context uses. */
export const defaultContextId = (language: CodeContextLanguage) => `default-${language}`;

/** The code contexts of this sandbox, by id. */
export class CodeContexts {
  private readonly byId = new Map<string, CodeContext>();
  /** Default contexts being started, so two first runs share one. */
  private readonly starting = new Map<string, Promise<CodeContext>>();

  constructor(private readonly deps: CodeContextDeps) {}

  async create(spec: CodeContextSpec): Promise<CodeContext> {
    return this.add(`ctx-${randomBytes(6).toString("hex")}`, spec);
  }

  get(id: string): CodeContext {
    const context = this.byId.get(id);
    if (!context) {
      // A restarted agent knows nothing of the contexts its predecessor ran.
      const lost =
        agentStarts > 1 ? "; the sandbox's agent restarted, and earlier contexts were lost" : "";
      throw new AgentError(
        "not_found",
        `no code context "${id}" in this sandbox${lost}; list them with code.listContexts(), or create one`,
      );
    }
    return context;
  }

  /** The language's default context, started on first use. */
  async default(language: CodeContextLanguage): Promise<CodeContext> {
    const id = defaultContextId(language);
    const known = this.byId.get(id);
    if (known) return known;
    let started = this.starting.get(id);
    if (!started) {
      started = this.add(id, { language }).finally(() => this.starting.delete(id));
      this.starting.set(id, started);
    }
    return started;
  }

  list(): CodeContext[] {
    return [...this.byId.values()];
  }

  async close(id: string): Promise<CodeContext> {
    const context = this.get(id);
    this.byId.delete(id);
    await context.close();
    return context;
  }

  private async add(id: string, spec: CodeContextSpec): Promise<CodeContext> {
    if (this.byId.size >= CODE_LIMITS.contexts)
      throw new AgentError(
        "resource_exhausted",
        `this sandbox has ${this.byId.size} code contexts, the most allowed; close some first`,
      );
    const context = await CodeContext.start(id, spec, this.deps);
    this.byId.set(id, context);
    return context;
  }
}
