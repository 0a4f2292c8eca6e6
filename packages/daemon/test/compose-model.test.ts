import { describe, expect, it } from "vitest";
import { describeUses, parseComposeModel, stackImagesOf } from "../src/docker/compose-model.js";
import { PaddockError } from "../src/errors.js";

const REG = "127.0.0.1:5000/paddock-test";
const model = (services: Record<string, unknown>) =>
  parseComposeModel(JSON.stringify({ name: "p", services }));

describe("parseComposeModel (docker compose config --format json)", () => {
  it("reads local build sections: the Dockerfile's absolute path, set args, target", () => {
    const m = model({
      a: { image: "redis:7" },
      b: {
        build: {
          context: "/app/b",
          dockerfile: "docker/Dockerfile.dev",
          args: { X: "1", Y: null },
        },
        pull_policy: "build",
      },
      c: { build: { context: "/app/c", dockerfile: "/elsewhere/Dockerfile", target: "t" } },
      d: { build: { context: "/app/d", dockerfile_inline: "FROM x\n" }, image: "mine/d:1" },
      e: { build: { context: "https://github.com/x/y.git", dockerfile: "Dockerfile" } },
    });
    expect(m).toEqual({
      project: "p",
      services: [
        { name: "a", image: "redis:7", builds: false },
        {
          name: "b",
          builds: true,
          build: {
            context: "/app/b",
            dockerfile: "/app/b/docker/Dockerfile.dev",
            args: { X: "1" },
          },
          pullPolicy: "build",
        },
        {
          name: "c",
          builds: true,
          build: { context: "/app/c", dockerfile: "/elsewhere/Dockerfile", args: {}, target: "t" },
        },
        {
          name: "d",
          image: "mine/d:1",
          builds: true,
          build: { context: "/app/d", dockerfileInline: "FROM x\n", args: {} },
        },
        { name: "e", builds: true },
      ],
    });
  });

  it("output that is no compose model is a runtime_error", () => {
    expect(() => parseComposeModel("not json")).toThrow(/no compose model/);
    expect(() => parseComposeModel('{"services": {"a": {"image": 3}}}')).toThrow(PaddockError);
  });
});

describe("stackImagesOf", () => {
  it("lists registry images once with their services; build and no-pull services are left out", () => {
    const m = model({
      a: { image: `${REG}/layers:1`, command: ["sleep", "1"] },
      b: { image: "redis:7-alpine" },
      c: { build: { context: "/app" } },
      d: { build: { context: "/app" }, image: "mine:1" },
      e: { image: "busybox:x", pull_policy: "never" },
      f: { image: `${REG}/layers:1` },
      g: { image: "redis:7-alpine", pull_policy: "missing" },
    });
    expect(stackImagesOf(m)).toEqual([
      { image: `${REG}/layers:1`, uses: [{ service: "a" }, { service: "f" }], always: false },
      { image: "redis:7-alpine", uses: [{ service: "b" }, { service: "g" }], always: false },
    ]);
  });

  it("an image one service pulls always is pulled always", () => {
    const m = model({
      a: { image: "redis:7", pull_policy: "always" },
      b: { image: "redis:7" },
      c: { image: "nginx:1", pull_policy: "if_not_present" },
    });
    expect(stackImagesOf(m).map((s) => [s.image, s.always])).toEqual([
      ["nginx:1", false],
      ["redis:7", true],
    ]);
  });

  it("adds the images Dockerfiles build from, with their args and target, not the stack's own builds", () => {
    const m = model({
      web: { image: `${REG}/layers:1` },
      base: { build: { context: "/app/base" }, image: "mine/base:1" },
      app: {
        build: { context: "/app/app", args: { TAG: "2" }, target: "run" },
      },
      other: { build: { context: "/app/other" } },
    });
    const dockerfiles = new Map([
      ["base", `FROM ${REG}/layers:1\nRUN true\n`],
      [
        "app",
        [
          `ARG TAG=1`,
          `FROM ${REG}/layers:$TAG AS build`,
          `RUN make`,
          `FROM docker.io/mine/base:1 AS run`,
          `  COPY --from=${REG}/tools:1 /t /t`,
          `COPY --from=build /out /out`,
          `FROM ${REG}/never:1`,
        ].join("\n"),
      ],
      // The default name of other's build: compose tags it PROJECT-SERVICE.
      ["other", "FROM p-app\n"],
    ]);
    expect(stackImagesOf(m, dockerfiles)).toEqual([
      {
        image: `${REG}/layers:1`,
        uses: [
          { service: "base", dockerfile: { line: 1, instruction: "FROM" } },
          { service: "web" },
        ],
        always: false,
      },
      {
        image: `${REG}/layers:2`,
        uses: [{ service: "app", dockerfile: { line: 2, instruction: "FROM" } }],
        always: false,
      },
      {
        image: `${REG}/tools:1`,
        uses: [{ service: "app", dockerfile: { line: 5, instruction: "COPY --from" } }],
        always: false,
      },
    ]);
  });

  it("a Dockerfile that names no image is an invalid_request naming the service and the file", () => {
    const m = model({ app: { build: { context: "/app" } } });
    const thrown = (() => {
      try {
        stackImagesOf(m, new Map([["app", "ARG B\nFROM ${B}:1\n"]]));
      } catch (err) {
        return err;
      }
    })();
    expect(thrown).toBeInstanceOf(PaddockError);
    expect(thrown).toMatchObject({ code: "invalid_request", details: { service: "app", line: 2 } });
    expect((thrown as Error).message).toMatch(
      /^service "app"'s Dockerfile \/app\/Dockerfile: Dockerfile line 2: FROM ":1"/,
    );
  });
});

describe("describeUses", () => {
  it("names the services running an image, then the Dockerfiles building from it", () => {
    expect(describeUses([{ service: "a" }])).toBe('service "a"');
    expect(
      describeUses([
        { service: "a" },
        { service: "app", dockerfile: { line: 3, instruction: "FROM" } },
        { service: "b" },
      ]),
    ).toBe('services "a", "b" and service "app"\'s Dockerfile (FROM, line 3)');
  });
});
