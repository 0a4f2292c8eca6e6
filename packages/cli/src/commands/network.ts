import type { Command } from "commander";
import { Sandbox } from "paddock";
import { EGRESS_MODES, type EgressMode, type SandboxNetwork } from "@paddock/protocol";
import { cliClientOptions } from "../client-options.js";
import { collect, printJson, UsageError } from "../output.js";

const RULES_HELP =
  "an IP address, a CIDR (10.0.0.0/8), a domain (pypi.org) or a wildcard domain (*.pythonhosted.org)";

function egressOf(value: string | undefined): EgressMode | undefined {
  if (value === undefined) return undefined;
  if (!(EGRESS_MODES as readonly string[]).includes(value))
    throw new UsageError(`--net is one of ${EGRESS_MODES.join(", ")}, got "${value}"`);
  return value as EgressMode;
}

/**
 * The policy `create` asks for: `--net` names the egress; `--allow` alone means an allowlist,
 * `--deny` alone all egress but those.
 */
export function createNetwork(opts: { net?: string; allow: string[]; deny: string[] }) {
  const egress =
    egressOf(opts.net) ??
    (opts.allow.length > 0 ? "allowlist" : opts.deny.length > 0 ? "all" : "none");
  return { egress, allow: opts.allow, deny: opts.deny };
}

/** The create options for egress, shared by `create` and described once. */
export function addNetworkOptions(command: Command): Command {
  return command
    .option("--net <egress>", `egress: ${EGRESS_MODES.join(", ")} (a new sandbox: none)`)
    .option(
      `--allow <entry>`,
      `with --net allowlist: reach this (${RULES_HELP}); repeatable`,
      collect,
      [],
    )
    .option("--deny <entry>", "never reach this, whatever else allows it; repeatable", collect, []);
}

/** `egress allowlist: pypi.org, 192.0.2.0/24; deny: …; address 10.123.0.2` */
export function describeNetwork(n: SandboxNetwork): string {
  const parts: string[] = [n.egress];
  if (n.allow.length > 0) parts.push(`allow ${n.allow.join(", ")}`);
  if (n.deny.length > 0) parts.push(`deny ${n.deny.join(", ")}`);
  if (n.address) parts.push(`address ${n.address}`);
  return parts.join("; ");
}

export function registerNetworkCommands(program: Command): void {
  addNetworkOptions(
    program
      .command("net")
      .description(
        "show a sandbox's egress policy and address, or replace it (--net, --allow, --deny); new connections follow within a second",
      )
      .argument("<id>", "sandbox id")
      .option("--json", "print the policy as JSON")
      .addHelpText(
        "after",
        `
Examples:
  paddock create --net allowlist --allow pypi.org --allow '*.pythonhosted.org'
  paddock net sb_123                                   # show
  paddock net sb_123 --allow pypi.org --allow 192.0.2.0/24   # now an allowlist of these
  paddock net sb_123 --net all --deny '*.example.org'  # anything but these
  paddock net sb_123 --net none                        # cut it off (it keeps its interface)

Fields not given keep their value, except that --allow alone makes the egress an allowlist.
A sandbox created without a network cannot be given one: create it with --net.`,
      ),
  ).action(
    async (id: string, opts: { net?: string; allow: string[]; deny: string[]; json?: boolean }) => {
      const sandbox = await Sandbox.connect(id, cliClientOptions());
      const change = opts.net !== undefined || opts.allow.length > 0 || opts.deny.length > 0;
      let network = await sandbox.network.get();
      if (change) {
        const egress = egressOf(opts.net) ?? (opts.allow.length > 0 ? "allowlist" : network.egress);
        network = await sandbox.network.update({
          egress,
          allow: egress === "allowlist" ? (opts.allow.length > 0 ? opts.allow : network.allow) : [],
          deny: egress === "none" ? [] : opts.deny.length > 0 ? opts.deny : network.deny,
        });
      }
      if (opts.json) printJson(network);
      else process.stdout.write(`${describeNetwork(network)}\n`);
    },
  );
}
