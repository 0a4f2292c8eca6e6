import { describe, expect, it } from "vitest";
import { parseOpenFilesLimit, sandboxOpenFilesLimit } from "../src/runtimes/rlimits.js";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max processes             63704                63704                processes 
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
`;

describe("parseOpenFilesLimit", () => {
  it("returns the hard limit, not the soft one", () => {
    expect(parseOpenFilesLimit(LIMITS)).toBe(524288);
  });

  it("maps unlimited to the largest safe integer", () => {
    const text = LIMITS.replace(
      /Max open files.*$/m,
      "Max open files  unlimited  unlimited  files",
    );
    expect(parseOpenFilesLimit(text)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("returns undefined without a Max open files line", () => {
    expect(
      parseOpenFilesLimit("Limit Soft Hard Units\nMax cpu time unlimited unlimited seconds\n"),
    ).toBe(undefined);
  });
});

describe("sandboxOpenFilesLimit", () => {
  it("never exceeds what is wanted", () => {
    const limit = sandboxOpenFilesLimit(64);
    expect(limit).toBeGreaterThan(0);
    expect(limit).toBeLessThanOrEqual(64);
  });
});
