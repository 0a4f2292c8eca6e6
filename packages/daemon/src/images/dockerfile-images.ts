import { Copy, DockerfileParser, From } from "dockerfile-ast";
import { parseReference } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";

/** An image a Dockerfile builds from, as written after its ARGs are substituted. */
export interface DockerfileImage {
  image: string;
  /** 1-based line of the first FROM or COPY --from naming it, for messages. */
  line: number;
  instruction: "FROM" | "COPY --from";
}

/**
 * ARGs every build knows without declaring them (BuildKit's automatic platform ARGs); only
 * linux/amd64 is built.
 */
const PLATFORM_ARGS: Record<string, string> = {
  TARGETPLATFORM: "linux/amd64",
  TARGETOS: "linux",
  TARGETARCH: "amd64",
  TARGETVARIANT: "",
  BUILDPLATFORM: "linux/amd64",
  BUILDOS: "linux",
  BUILDARCH: "amd64",
  BUILDVARIANT: "",
};

/**
 * The images a Dockerfile needs from outside the build: every FROM and `COPY --from` that names
 * neither `scratch` nor an earlier stage (by name or index), up to the `target` stage when one is
 * given. Variables are substituted as Docker does for FROM: from the ARGs declared before the
 * first FROM, their defaults overridden by `buildArgs`. The Dockerfile is read by dockerfile-ast
 * (line continuations, comments, the escape directive); a name that is still no image reference
 * after substitution is an `invalid_request` naming its line.
 */
export function dockerfileImages(
  text: string,
  buildArgs: Record<string, string> = {},
  target?: string,
): DockerfileImage[] {
  const dockerfile = DockerfileParser.parse(text);
  const args: Record<string, string> = { ...PLATFORM_ARGS };
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    const name = property?.getName();
    if (!name) continue;
    args[name] = buildArgs[name] ?? expand(property?.getValue() ?? "", args);
  }
  const stages: string[] = [];
  const found = new Map<string, DockerfileImage>();
  const need = (raw: string, line: number, what: DockerfileImage["instruction"]) => {
    const image = expand(raw, args);
    const local = image.toLowerCase();
    if (local === "scratch" || stages.includes(local)) return;
    if (what === "COPY --from" && /^\d+$/.test(image) && Number(image) < stages.length) return;
    checkReference(image, line, what);
    if (!found.has(image)) found.set(image, { image, line, instruction: what });
  };
  for (const instruction of dockerfile.getInstructions()) {
    const line = instruction.getRange().start.line + 1;
    if (instruction instanceof From) {
      if (target !== undefined && stages.includes(target.toLowerCase())) break;
      const image = instruction.getImage();
      if (!image)
        throw new PaddockError("invalid_request", `Dockerfile line ${line}: FROM names no image`);
      need(image, line, "FROM");
      stages.push((instruction.getBuildStage() ?? `#${stages.length}`).toLowerCase());
    } else if (instruction instanceof Copy) {
      const from = instruction.getFromFlag()?.getValue();
      if (from) need(from, line, "COPY --from");
    }
  }
  if (stages.length === 0)
    throw new PaddockError("invalid_request", "the Dockerfile has no FROM instruction");
  if (target !== undefined && !stages.includes(target.toLowerCase()))
    throw new PaddockError(
      "invalid_request",
      `the Dockerfile has no stage named "${target}" (FROM ... AS ${target}) to build as the target`,
    );
  return [...found.values()];
}

function checkReference(image: string, line: number, what: string): void {
  try {
    parseReference(image);
  } catch (err) {
    throw new PaddockError(
      "invalid_request",
      `Dockerfile line ${line}: ${what} "${image}" is not an image reference (${errorMessage(err)}); set its ARGs with a build arg`,
      { line, image },
    );
  }
}

/**
 * Docker's substitution in FROM: `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternative}`
 * (an unset or empty NAME is empty), `\$` a literal dollar.
 */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match: string, braced?: string, op?: string, word?: string, bare?: string) => {
      if (match === "\\$") return "$";
      const value = vars[braced ?? bare ?? ""] ?? "";
      if (op === "-") return value === "" ? expand(word ?? "", vars) : value;
      if (op === "+") return value === "" ? "" : expand(word ?? "", vars);
      return value;
    },
  );
}
