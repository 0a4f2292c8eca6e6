import { SandboxSchema, type SandboxInfo } from "@paddock/protocol";
import { sandboxPath } from "../api.js";
import type { Context } from "../context.js";
import { h, replace, type View } from "../dom.js";
import { age, bytes, cores } from "../format.js";
import { every, Metrics } from "../live.js";
import { filesView } from "./files.js";
import { processesView } from "./processes.js";
import { terminalView } from "./terminal.js";

const TABS = ["Terminal", "Files", "Processes"] as const;
type Tab = (typeof TABS)[number];

/** One sandbox: its numbers, a terminal, its files and processes, and terminate. */
export function sandboxView(context: Context, id: string): View {
  const { api, notify } = context;
  const metrics = new Metrics(api);
  const summary = h("dl", { class: "summary" });
  const panel = h("div", { class: "panel" });
  const tabBar = h("div", { class: "tabs", role: "tablist" });
  const opened = new Map<Tab, View>();
  let shown: Tab | undefined;

  const makers: Record<Tab, () => View> = {
    Terminal: () => terminalView(context, id),
    Files: () => filesView(context, id),
    Processes: () => processesView(context, id),
  };
  // A tab's view is made when first shown and kept (a terminal keeps its session) until the
  // page goes; Processes polls only while it is shown.
  const select = (tab: Tab) => {
    if (shown === "Processes" && tab !== "Processes") {
      opened.get("Processes")?.dispose?.();
      opened.delete("Processes");
    }
    shown = tab;
    for (const button of tabBar.children) {
      button.setAttribute("aria-selected", String(button.textContent === tab));
    }
    for (const view of opened.values()) view.el.hidden = true;
    let view = opened.get(tab);
    if (!view) {
      view = makers[tab]();
      opened.set(tab, view);
      panel.append(view.el);
      view.mounted?.();
    }
    view.el.hidden = false;
  };
  replace(
    tabBar,
    ...TABS.map((tab) =>
      h("button", { type: "button", role: "tab", onclick: () => select(tab) }, tab),
    ),
  );

  let info: SandboxInfo | undefined;
  const render = (m?: Awaited<ReturnType<Metrics["of"]>>) => {
    if (!info) return;
    const item = (term: string, value: string, cls?: string) => [
      h("dt", {}, term),
      h("dd", { class: cls }, value),
    ];
    replace(
      summary,
      ...item("State", info.state, `state ${info.state}`),
      ...item("Image", info.image),
      ...item("Runtime", info.runtime),
      ...item("Age", age(info.createdAt)),
      ...item(
        "CPU",
        m ? `${cores(m.cpu.usedCores)} / ${cores(m.cpu.limitCores)} cores` : "–",
        "cpu",
      ),
      ...item(
        "Memory",
        m ? `${bytes(m.memory.workingSetBytes)} / ${bytes(m.memory.limitBytes)}` : "–",
        "memory",
      ),
      ...item("Disk", m ? `${bytes(m.disk.usedBytes)} / ${bytes(m.disk.limitBytes)}` : "–"),
      ...item("Expires", new Date(info.expiresAt).toLocaleTimeString()),
    );
  };
  const stop = every(async () => {
    info = await api.json("GET", sandboxPath(id), SandboxSchema);
    render(info.state === "running" ? await metrics.of(id) : undefined);
  });

  const terminate = h(
    "button",
    {
      type: "button",
      class: "danger",
      id: "terminate",
      onclick: () => {
        if (!confirm(`Terminate ${id}? Its files and processes go with it.`)) return;
        api.request("DELETE", sandboxPath(id)).then(() => {
          location.hash = "#/";
        }, notify);
      },
    },
    "Terminate",
  );
  const el = h(
    "section",
    { class: "sandbox" },
    h("h2", {}, h("a", { href: "#/" }, "Sandboxes"), " / ", id, " ", terminate),
    summary,
    tabBar,
    panel,
  );
  return {
    el,
    mounted: () => select("Terminal"),
    dispose() {
      stop();
      for (const view of opened.values()) view.dispose?.();
    },
  };
}
