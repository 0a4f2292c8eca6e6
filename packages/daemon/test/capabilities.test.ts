import { describe, expect, it } from "vitest";
import {
  DEFAULT_CAPABILITIES,
  grantableCapabilities,
  parseBoundingSet,
} from "../src/runtimes/capabilities.js";

/** Every capability up to CAP_CHECKPOINT_RESTORE (bit 40) except CAP_SYS_RESOURCE (bit 24). */
const MASK_WITHOUT_SYS_RESOURCE = "000001fffeffffff";

const status = (capBnd: string) =>
  [
    "Name:\tnode",
    "Umask:\t0022",
    "State:\tS (sleeping)",
    "CapInh:\t0000000000000000",
    "CapPrm:\t000001ffffffffff",
    "CapEff:\t000001ffffffffff",
    `CapBnd:\t${capBnd}`,
    "CapAmb:\t0000000000000000",
    "NoNewPrivs:\t0",
  ].join("\n");

describe("parseBoundingSet", () => {
  it("reads CapBnd, not the other capability lines", () => {
    const caps = parseBoundingSet(status(MASK_WITHOUT_SYS_RESOURCE));
    expect(caps.has("CAP_SYS_RESOURCE")).toBe(false);
    expect(caps.has("CAP_SYS_NICE")).toBe(true); // bit 23
    expect(caps.has("CAP_SYS_TIME")).toBe(true); // bit 25
    expect(caps.has("CAP_CHOWN")).toBe(true); // bit 0
    expect(caps.has("CAP_CHECKPOINT_RESTORE")).toBe(true); // bit 40
    expect(caps.size).toBe(40);
  });

  it("handles bits above 32 correctly", () => {
    // Only bits 32 (MAC_OVERRIDE) and 39 (BPF).
    const caps = parseBoundingSet(status("0000008100000000"));
    expect([...caps].sort()).toEqual(["CAP_BPF", "CAP_MAC_OVERRIDE"]);
  });

  it("gives an empty set for an empty mask", () => {
    expect(parseBoundingSet(status("0000000000000000")).size).toBe(0);
  });

  it("throws when there is no CapBnd line", () => {
    expect(() => parseBoundingSet("Name:\tnode\nCapEff:\t0000000000000000\n")).toThrow(/CapBnd/);
  });
});

describe("grantableCapabilities", () => {
  const bounding = parseBoundingSet(status(MASK_WITHOUT_SYS_RESOURCE));

  it("drops a capability outside the bounding set and keeps order", () => {
    expect(grantableCapabilities(["CAP_KILL", "CAP_SYS_RESOURCE", "CAP_CHOWN"], bounding)).toEqual([
      "CAP_KILL",
      "CAP_CHOWN",
    ]);
  });

  it("keeps every default capability under that mask", () => {
    expect(grantableCapabilities(DEFAULT_CAPABILITIES, bounding)).toEqual(DEFAULT_CAPABILITIES);
  });

  it("drops unknown names", () => {
    expect(grantableCapabilities(["CAP_NOT_A_THING"], bounding)).toEqual([]);
  });

  it("grants nothing from an empty bounding set", () => {
    expect(grantableCapabilities(DEFAULT_CAPABILITIES, new Set())).toEqual([]);
  });
});
