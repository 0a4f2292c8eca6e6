import { Api } from "../api.js";
import { h, type View } from "../dom.js";

/** Asks for an API key (or the admin token) and checks it before keeping it. */
export function signInView(done: (api: Api) => void): View {
  const input = h("input", {
    type: "password",
    name: "token",
    id: "token",
    autocomplete: "off",
    required: true,
    placeholder: "pdk_…",
  });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "sign-in",
      onsubmit: (event) => {
        event.preventDefault();
        button.disabled = true;
        error.textContent = "";
        Api.signIn(input.value).then(done, (err: Error) => {
          error.textContent = err.message;
          button.disabled = false;
        });
      },
    },
    h("h1", {}, "Paddock"),
    h("label", { for: "token" }, "API key or admin token"),
    input,
    button,
    error,
    h(
      "p",
      { class: "hint" },
      "Kept in this tab's session storage only. The admin token is the daemon's data-dir/token file.",
    ),
  );
  return { el: form, mounted: () => input.focus() };
}
