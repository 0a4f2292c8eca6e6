import { describe, expect, it } from "vitest";
import { dockerfileImages, expand } from "../src/images/dockerfile-images.js";

const images = (text: string, args?: Record<string, string>, target?: string) =>
  dockerfileImages(text, args, target).map((i) => i.image);

describe("the images a Dockerfile builds from", () => {
  it("are its FROM and COPY --from images, not scratch or its own stages", () => {
    const text = [
      "# syntax=docker/dockerfile:1",
      "FROM 127.0.0.1:5000/base:1 AS Build",
      "RUN make \\",
      "  all",
      "FROM build AS test",
      "COPY --from=nginx:1.27 /etc/nginx /etc/nginx",
      "COPY --chown=1 --from=0 /a /b",
      "FROM scratch",
      "COPY --from=BUILD /out /out",
      "FROM 127.0.0.1:5000/base:1",
    ].join("\n");
    expect(dockerfileImages(text)).toEqual([
      { image: "127.0.0.1:5000/base:1", line: 2, instruction: "FROM" },
      { image: "nginx:1.27", line: 6, instruction: "COPY --from" },
    ]);
  });

  it("substitute the ARGs before the first FROM, overridden by build args", () => {
    const text = [
      "ARG REGISTRY=127.0.0.1:5000",
      "ARG TAG",
      "ARG VARIANT=slim",
      "FROM ${REGISTRY}/python:${TAG:-3.12}-$VARIANT",
      "ARG LATER=x",
      "FROM $REGISTRY/tools:${LATER:-none}-${TARGETARCH}",
    ].join("\n");
    expect(images(text)).toEqual([
      "127.0.0.1:5000/python:3.12-slim",
      "127.0.0.1:5000/tools:none-amd64",
    ]);
    expect(images(text, { TAG: "3.11", REGISTRY: "r.example:5000" })).toEqual([
      "r.example:5000/python:3.11-slim",
      "r.example:5000/tools:none-amd64",
    ]);
  });

  it("stop at the target stage", () => {
    const text = ["FROM a:1 AS one", "FROM b:1 AS two", "FROM c:1"].join("\n");
    expect(images(text, {}, "two")).toEqual(["a:1", "b:1"]);
    expect(() => images(text, {}, "three")).toThrow(/no stage named "three"/);
  });

  it("refuse a name that is no reference, with its line", () => {
    expect(() => images("ARG BASE\nFROM ${BASE}\n")).toThrow(
      /line 2: FROM "" is not an image reference/,
    );
    expect(() => images("FROM Bad:Name\n")).toThrow(/line 1/);
    expect(() => images("# nothing\n")).toThrow(/no FROM/);
  });
});

describe("Dockerfile variable substitution", () => {
  it("follows Docker's forms", () => {
    const vars = { A: "1", E: "" };
    expect(expand("$A-${A}-${A:-x}-${A:+y}-${E:-d}-${E:+z}-${U}-\\$A", vars)).toBe(
      "1-1-1-y-d---$A",
    );
  });
});
