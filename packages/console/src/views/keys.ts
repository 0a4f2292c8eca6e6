import { CreatedKeySchema, KeyListSchema, KeySchema } from "@paddock/protocol";
import type { Context } from "../context.js";
import { h, replace, type View } from "../dom.js";

/** The admin's page: API keys, a new one (its secret shown once), revoke. */
export function keysView({ api, notify }: Context): View {
  const body = h("tbody");
  const secret = h("p", { class: "secret", hidden: true });
  const refresh = async () => {
    const { keys } = await api.json("GET", "/v1/keys", KeyListSchema);
    replace(
      body,
      ...keys.map((key) =>
        h(
          "tr",
          { "data-name": key.name },
          h("td", {}, key.name),
          h("td", {}, new Date(key.createdAt).toLocaleString()),
          h(
            "td",
            {},
            key.revokedAt ? `revoked ${new Date(key.revokedAt).toLocaleString()}` : "live",
          ),
          h(
            "td",
            {},
            !key.revokedAt &&
              h(
                "button",
                {
                  type: "button",
                  class: "danger",
                  onclick: () => {
                    if (!confirm(`Revoke ${key.name}? Its open sessions end at once.`)) return;
                    api
                      .json("DELETE", `/v1/keys/${encodeURIComponent(key.name)}`, KeySchema)
                      .then(refresh, notify);
                  },
                },
                "Revoke",
              ),
          ),
        ),
      ),
    );
  };
  const name = h("input", { name: "name", required: true, placeholder: "ci-runner" });
  const form = h(
    "form",
    {
      class: "toolbar",
      onsubmit: (event) => {
        event.preventDefault();
        api
          .json("POST", "/v1/keys", CreatedKeySchema, { json: { name: name.value.trim() } })
          .then((created) => {
            secret.hidden = false;
            replace(
              secret,
              `Key ${created.name} (shown once, copy it now): `,
              h("code", {}, created.key),
            );
            name.value = "";
            return refresh();
          })
          .catch(notify);
      },
    },
    name,
    h("button", { type: "submit" }, "Create key"),
  );
  void refresh().catch(notify);
  const el = h(
    "section",
    { class: "keys" },
    h("h2", {}, "API keys"),
    form,
    secret,
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...["Name", "Created", "State", ""].map((t) => h("th", {}, t)))),
      body,
    ),
  );
  return { el };
}
