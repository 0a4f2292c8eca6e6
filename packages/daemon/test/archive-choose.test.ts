import { describe, expect, it } from "vitest";
import { parseReference } from "@paddock/protocol";
import { chooseImage, type Candidate } from "../src/images/archive-store.js";
import { PaddockError } from "../src/errors.js";

const amd64 = { os: "linux", architecture: "amd64" };
const arm64 = { os: "linux", architecture: "arm64" };
const want = { os: "linux", architecture: "amd64" };
const pick = (name: string, images: Candidate[]) =>
  chooseImage(images, parseReference(name), want).key;

function refusal(name: string, images: Candidate[]): PaddockError {
  try {
    pick(name, images);
  } catch (err) {
    return err as PaddockError;
  }
  throw new Error("expected a refusal");
}

describe("chooseImage", () => {
  it("takes the only image, also one naming no platform", () => {
    expect(pick("x", [{ key: "a", names: [], platform: amd64 }])).toBe("a");
    expect(pick("x", [{ key: "a", names: [] }])).toBe("a");
  });

  it("refuses the only image when it names another platform", () => {
    const err = refusal("x", [{ key: "a", names: ["docker.io/o/a:1"], platform: arm64 }]);
    expect(err.code).toBe("image_platform_unavailable");
    expect(err.message).toMatch(
      /no image for linux\/amd64; it has: docker.io\/o\/a:1 \(linux\/arm64\)/,
    );
  });

  it("takes the image saved under the name given, by reference or tag, else the linux/amd64 one", () => {
    const images: Candidate[] = [
      { key: "a", names: ["docker.io/o/a:1"], platform: amd64 },
      { key: "b", names: ["docker.io/o/b:2", "2"], platform: amd64 },
      { key: "c", names: [], platform: arm64 },
    ];
    expect(pick("o/a:1", images)).toBe("a");
    expect(pick("other:2", images)).toBe("b");
    expect(pick("x", images.slice(1))).toBe("b");
  });

  it("one image listed twice is one; several for the platform is a refusal naming them", () => {
    const twice: Candidate[] = [
      { key: "a", names: ["1"], platform: amd64 },
      { key: "a", names: ["2"], platform: amd64 },
    ];
    expect(pick("x:2", twice)).toBe("a");
    const err = refusal("x", [
      { key: "a", names: ["docker.io/o/a:1"], platform: amd64 },
      { key: "b", names: ["docker.io/o/b:1"], platform: amd64 },
    ]);
    expect(err.code).toBe("invalid_request");
    expect(err.message).toMatch(
      /holds 2 images for linux\/amd64: docker.io\/o\/a:1 .*docker.io\/o\/b:1/,
    );
  });
});
