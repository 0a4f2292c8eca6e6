import {
  CPU_LIMITS,
  RUNTIMES,
  SANDBOX_DEFAULTS,
  SandboxListSchema,
  SandboxSchema,
  type SandboxInfo,
  type SandboxMetrics,
} from "@paddock/protocol";
import { sandboxPath } from "../api.js";
import type { Context } from "../context.js";
import { h, replace, type View } from "../dom.js";
import { age, bytes, cores } from "../format.js";
import { every, followEvents, Metrics, oneAtATime } from "../live.js";

/** The list of the key's sandboxes with live CPU and memory, and the create form. */
export function sandboxesView(context: Context): View {
  const { api, notify } = context;
  const metrics = new Metrics(api);
  const latest = new Map<string, SandboxMetrics>();
  const body = h("tbody");
  let sandboxes: SandboxInfo[] = [];

  const cpuCell = (s: SandboxInfo) => {
    const m = latest.get(s.id);
    return m ? `${cores(m.cpu.usedCores)} / ${cores(m.cpu.limitCores)}` : "–";
  };
  const memoryCell = (s: SandboxInfo) => {
    const m = latest.get(s.id);
    return m ? `${bytes(m.memory.workingSetBytes)} / ${bytes(m.memory.limitBytes)}` : "–";
  };
  const render = () => {
    if (sandboxes.length === 0) {
      replace(body, h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No sandboxes yet.")));
      return;
    }
    replace(
      body,
      ...sandboxes.map((s) =>
        h(
          "tr",
          { "data-id": s.id },
          h("td", {}, h("a", { href: `#/sandboxes/${encodeURIComponent(s.id)}` }, s.id)),
          h("td", { class: `state ${s.state}` }, s.state),
          h("td", {}, s.image),
          h("td", {}, s.runtime),
          h("td", { title: s.createdAt }, age(s.createdAt)),
          h("td", { class: "num cpu" }, cpuCell(s)),
          h("td", { class: "num memory" }, memoryCell(s)),
          h(
            "td",
            {},
            s.state !== "terminated" &&
              h(
                "button",
                {
                  type: "button",
                  class: "danger",
                  onclick: () => {
                    if (!confirm(`Terminate ${s.id}?`)) return;
                    api.request("DELETE", sandboxPath(s.id)).then(refresh, notify);
                  },
                },
                "Terminate",
              ),
          ),
        ),
      ),
    );
  };

  // The poll and lifecycle events both ask for it.
  const refresh = oneAtATime(async () => {
    const list = await api.json("GET", "/v1/sandboxes", SandboxListSchema);
    // Newest first; ended sandboxes after the live ones.
    sandboxes = list.sandboxes.sort(
      (a, b) =>
        Number(a.terminatedAt !== null) - Number(b.terminatedAt !== null) ||
        b.createdAt.localeCompare(a.createdAt),
    );
    // Shown at once: a first metrics read of a sandbox can take a second (a CPU rate needs two).
    render();
    const running = sandboxes.filter((s) => s.state === "running");
    const answers = await Promise.all(running.map((s) => metrics.of(s.id)));
    latest.clear();
    for (const m of answers) if (m) latest.set(m.sandboxId, m);
    render();
  });

  const stopPolling = every(() => refresh().catch(notify));
  // Lifecycle events show a change at once instead of at the next poll.
  const stopEvents = followEvents(api, () => void refresh().catch(notify));

  const table = h(
    "table",
    { class: "sandboxes" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["ID", "State", "Image", "Runtime", "Age", "CPU (cores)", "Memory", ""].map((t) =>
          h("th", {}, t),
        ),
      ),
    ),
    body,
  );
  const el = h("section", {}, createForm(context), h("h2", {}, "Sandboxes"), table);
  return {
    el,
    dispose() {
      stopPolling();
      stopEvents();
    },
  };
}

/** Image, runtime, memory, CPU and timeout; opens the sandbox once it runs. */
function createForm({ api, notify }: Context): HTMLElement {
  const field = (label: string, input: HTMLElement) => h("label", {}, label, input);
  const image = h("input", { name: "image", value: SANDBOX_DEFAULTS.image, required: true });
  const runtime = h(
    "select",
    { name: "runtime" },
    ...RUNTIMES.map((r) => h("option", { value: r, selected: r === SANDBOX_DEFAULTS.runtime }, r)),
  );
  const memory = h("input", {
    name: "memoryMiB",
    type: "number",
    min: 64,
    value: SANDBOX_DEFAULTS.memoryMiB,
  });
  const cpu = h("input", {
    name: "cpu",
    type: "number",
    min: CPU_LIMITS.min,
    max: CPU_LIMITS.max,
    step: 0.1,
    value: SANDBOX_DEFAULTS.cpu,
  });
  const timeout = h("input", {
    name: "timeoutSeconds",
    type: "number",
    min: 1,
    value: SANDBOX_DEFAULTS.timeoutSeconds,
  });
  const button = h("button", { type: "submit" }, "Create");
  return h(
    "form",
    {
      class: "create",
      onsubmit: (event) => {
        event.preventDefault();
        button.disabled = true;
        notify("Creating…");
        api
          .json("POST", "/v1/sandboxes", SandboxSchema, {
            json: {
              image: image.value.trim(),
              runtime: runtime.value,
              memoryMiB: memory.valueAsNumber,
              cpu: cpu.valueAsNumber,
              timeoutSeconds: timeout.valueAsNumber,
            },
          })
          .then((created) => {
            notify(`Created ${created.id}`);
            location.hash = `#/sandboxes/${encodeURIComponent(created.id)}`;
          }, notify)
          .finally(() => (button.disabled = false));
      },
    },
    h("h2", {}, "New sandbox"),
    field("Image", image),
    field("Runtime", runtime),
    field("Memory (MiB)", memory),
    field("CPU (cores)", cpu),
    field("Timeout (s)", timeout),
    button,
  );
}
