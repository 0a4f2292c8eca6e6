import { ProcessInfoSchema, ProcessListSchema } from "@paddock/protocol";
import { sandboxPath } from "../api.js";
import type { Context } from "../context.js";
import { h, replace, type View } from "../dom.js";
import { age } from "../format.js";
import { every } from "../live.js";

/** The processes started through Paddock in a sandbox, refreshed while shown; kill one. */
export function processesView({ api, notify }: Context, id: string): View {
  const body = h("tbody");
  const refresh = async () => {
    const { processes } = await api.json("GET", sandboxPath(id, "/processes"), ProcessListSchema);
    processes.sort((a, b) => Number(b.running) - Number(a.running) || b.pid - a.pid);
    replace(
      body,
      ...processes.map((p) =>
        h(
          "tr",
          { "data-pid": p.pid },
          h("td", { class: "num" }, p.pid),
          h("td", {}, p.tag ?? ""),
          h("td", { class: "argv" }, p.argv.length > 0 ? p.argv.join(" ") : "(login shell)"),
          h("td", {}, p.pty ? `${p.pty.cols}×${p.pty.rows}` : ""),
          h("td", { title: p.startedAt }, age(p.startedAt)),
          h("td", {}, p.running ? "running" : `exited ${p.exit?.signal ?? p.exit?.exitCode ?? ""}`),
          h(
            "td",
            {},
            p.running &&
              h(
                "button",
                {
                  type: "button",
                  class: "danger",
                  onclick: () =>
                    api
                      .json(
                        "POST",
                        sandboxPath(id, `/processes/${p.pid}/kill`),
                        ProcessInfoSchema,
                        {
                          json: { signal: "SIGKILL" },
                        },
                      )
                      .then(refresh, notify),
                },
                "Kill",
              ),
          ),
        ),
      ),
    );
  };
  const stop = every(() => refresh().catch(notify));
  const el = h(
    "div",
    { class: "processes" },
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["PID", "Tag", "Command", "Terminal", "Age", "State", ""].map((t) => h("th", {}, t)),
        ),
      ),
      body,
    ),
  );
  return { el, dispose: stop };
}
