import {
  SandboxNetworkSchema,
  UpdateNetworkRequestSchema,
  type NetworkPolicyInput,
  type SandboxNetwork,
} from "@paddock/protocol";
import { checkArgument } from "./errors.js";
import type { HttpClient } from "./http.js";

/**
 * A sandbox's egress policy. A sandbox has no network unless created with one
 * (`Sandbox.create({ network: { egress: "all" } })`); its policy can then change while it runs.
 *
 * @example
 * ```ts
 * const sandbox = await Sandbox.create({
 *   network: { egress: "allowlist", allow: ["pypi.org", "*.pythonhosted.org"] },
 * });
 * await sandbox.network.update({ egress: "allowlist", allow: ["pypi.org"], deny: [] });
 * console.log((await sandbox.network.get()).address);
 * ```
 */
export class SandboxNetworking {
  constructor(
    private readonly http: HttpClient,
    private readonly base: string,
  ) {}

  /** The policy and the sandbox's address (null with egress "none" from create). */
  get(): Promise<SandboxNetwork> {
    return this.http.json("GET", this.base, SandboxNetworkSchema);
  }

  /**
   * Replaces the policy (entries: IP addresses, CIDRs, domains, `*.domain` wildcards; deny wins
   * over allow). New connections follow it within a second; open ones may go on.
   */
  async update(policy: NetworkPolicyInput): Promise<SandboxNetwork> {
    const body = checkArgument(UpdateNetworkRequestSchema, policy, "policy");
    return this.http.json("PUT", this.base, SandboxNetworkSchema, { json: body });
  }
}
