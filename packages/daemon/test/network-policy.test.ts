import { describe, expect, it } from "vitest";
import { NetworkPolicySchema } from "@paddock/protocol";
import { nameAllowed, sortPolicy } from "../src/network/policy.js";

const policy = (input: unknown) => sortPolicy(NetworkPolicySchema.parse(input));

describe("network policies", () => {
  it("sort entries into addresses, names and wildcard suffixes", () => {
    expect(
      policy({
        egress: "allowlist",
        allow: ["192.0.2.7", "198.51.100.0/24", "2001:db8::1", "PyPI.org.", "*.example.org"],
      }).allow,
    ).toEqual({
      v4: ["192.0.2.7/32", "198.51.100.0/24"],
      v6: ["2001:db8::1/128"],
      names: ["pypi.org"],
      suffixes: ["example.org"],
    });
  });

  it("resolve names as egress, allow and deny say; deny wins", () => {
    const all = policy({ egress: "all", deny: ["*.ads.example"] });
    expect(nameAllowed(all, "anything.test")).toBe(true);
    expect(nameAllowed(all, "x.ads.example")).toBe(false);
    expect(nameAllowed(all, "ads.example")).toBe(true);
    const list = policy({
      egress: "allowlist",
      allow: ["pypi.org", "*.pythonhosted.org", "*.example.org"],
      deny: ["bad.example.org"],
    });
    expect(nameAllowed(list, "PyPI.org.")).toBe(true);
    expect(nameAllowed(list, "www.pypi.org")).toBe(false);
    expect(nameAllowed(list, "files.pythonhosted.org")).toBe(true);
    expect(nameAllowed(list, "evilpythonhosted.org")).toBe(false);
    expect(nameAllowed(list, "bad.example.org")).toBe(false);
    expect(nameAllowed(list, "good.example.org")).toBe(true);
    expect(nameAllowed(policy({}), "pypi.org")).toBe(false);
  });
});
