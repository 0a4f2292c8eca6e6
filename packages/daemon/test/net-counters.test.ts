import { describe, expect, it } from "vitest";
import { parseNetDev } from "../src/metrics/net-counters.js";

// /proc/net/dev as Linux 6.x prints it (two header lines, then one line per interface).
const SAMPLE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1234      10    0    0    0     0          0         0     1234      10    0    0    0     0       0          0
  eth0: 4200000    3000    0    0    0     0          0         0    52000     800    0    0    0     0       0          0
`;

describe("parseNetDev", () => {
  it("reads received and sent bytes per interface, loopback left out", () => {
    expect([...parseNetDev(SAMPLE)]).toEqual([["eth0", { rxBytes: 4200000, txBytes: 52000 }]]);
  });

  it("reads an interface name glued to its first number", () => {
    const glued = SAMPLE.replace("  eth0: 4200000", "eth0:4200000");
    expect(parseNetDev(glued).get("eth0")).toEqual({ rxBytes: 4200000, txBytes: 52000 });
  });
});
