import { z } from "zod";

/**
 * A sandbox's egress: `none` (no interface but loopback, the default), `all` (anywhere but the
 * always-refused destinations, minus `deny`), `allowlist` (only `allow`, minus `deny`).
 */
export const EGRESS_MODES = ["none", "all", "allowlist"] as const;
export type EgressMode = (typeof EGRESS_MODES)[number];

const DOMAIN_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
/** `example.org`, `api.example.org`; `*.example.org` is every name below example.org. */
export const DOMAIN_RULE = new RegExp(`^(\\*\\.)?(?:${DOMAIN_LABEL}\\.)*${DOMAIN_LABEL}\\.?$`);

/**
 * One allow or deny entry: an IP address or CIDR (v4 or v6), a domain name, or a wildcard
 * domain (`*.example.org`, every name below it but not example.org itself).
 */
export const NetworkRuleSchema = z
  .string()
  .max(253)
  .transform((s) => s.trim().toLowerCase())
  .pipe(
    z.union(
      [z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6(), z.string().regex(DOMAIN_RULE)],
      "an allow or deny entry is an IP address, a CIDR (10.0.0.0/8), a domain (example.org) or a wildcard domain (*.example.org)",
    ),
  );

const rules = z.array(NetworkRuleSchema).max(512, "at most 512 entries").default([]);

export const NetworkPolicySchema = z
  .strictObject({
    egress: z
      .enum(EGRESS_MODES, { error: `egress is one of ${EGRESS_MODES.join(", ")}` })
      .default("none"),
    allow: rules,
    deny: rules,
  })
  .superRefine((policy, ctx) => {
    if (policy.egress !== "allowlist" && policy.allow.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["allow"],
        message: `allow entries need egress "allowlist" (egress is "${policy.egress}")`,
      });
    if (policy.egress === "none" && policy.deny.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["deny"],
        message: 'deny entries need egress "all" or "allowlist" (egress is "none")',
      });
  });
export type NetworkPolicyInput = z.input<typeof NetworkPolicySchema>;
export type NetworkPolicy = z.output<typeof NetworkPolicySchema>;

/** A sandbox's network as `info` shows it. */
export const SandboxNetworkSchema = z.object({
  egress: z.enum(EGRESS_MODES),
  allow: z.array(z.string()),
  deny: z.array(z.string()),
  /** The sandbox's own address; null with no network. */
  address: z.string().nullable(),
});
export type SandboxNetwork = z.infer<typeof SandboxNetworkSchema>;

/**
 * `PUT /v1/sandboxes/:id/network`: replaces the policy of a running sandbox. New connections
 * follow it within a second. A sandbox created with egress "none" has no interface to give a
 * network to: its egress stays "none".
 */
export const UpdateNetworkRequestSchema = NetworkPolicySchema;
