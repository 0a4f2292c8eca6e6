import "./style.css";
import { KeyListSchema } from "@paddock/protocol";
import { Api, ApiError } from "./api.js";
import type { Context } from "./context.js";
import { h, replace, type View } from "./dom.js";
import { keysView } from "./views/keys.js";
import { sandboxView } from "./views/sandbox.js";
import { sandboxesView } from "./views/sandboxes.js";
import { signInView } from "./views/sign-in.js";

const root = document.getElementById("app")!;
let current: View | undefined;

function show(view: View, into: HTMLElement): void {
  current?.dispose?.();
  current = view;
  replace(into, view.el);
  view.mounted?.();
}

function statusLine() {
  const el = h("div", { class: "status", role: "status" });
  const notify = (message: unknown) => {
    const error = message instanceof Error;
    el.className = error ? "status error" : "status";
    el.textContent =
      message instanceof ApiError && message.code !== "http"
        ? `${message.code}: ${message.message}`
        : error
          ? message.message
          : String(message);
  };
  return { el, notify };
}

/** The API keys page is the admin's: an API key gets 403 from GET /v1/keys. */
async function isAdmin(api: Api): Promise<boolean> {
  try {
    await api.json("GET", "/v1/keys", KeyListSchema);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return false;
    throw err;
  }
}

async function signedIn(api: Api): Promise<void> {
  const status = statusLine();
  const admin = await isAdmin(api);
  const context: Context = { api, admin, notify: status.notify };
  const main = h("main");
  const signOut = () => {
    Api.signOut();
    current?.dispose?.();
    current = undefined;
    location.hash = "";
    void start();
  };
  replace(
    root,
    h(
      "header",
      {},
      h("a", { class: "brand", href: "#/" }, "Paddock"),
      h(
        "nav",
        {},
        h("a", { href: "#/" }, "Sandboxes"),
        admin && h("a", { href: "#/keys" }, "API keys"),
      ),
      h("span", { class: "who" }, admin ? "admin" : "API key"),
      h("button", { type: "button", id: "sign-out", onclick: signOut }, "Sign out"),
    ),
    status.el,
    main,
  );
  const route = () => {
    status.notify("");
    const hash = location.hash.replace(/^#/, "");
    const sandbox = /^\/sandboxes\/([^/]+)$/.exec(hash);
    if (sandbox) show(sandboxView(context, decodeURIComponent(sandbox[1]!)), main);
    else if (hash === "/keys" && admin) show(keysView(context), main);
    else show(sandboxesView(context), main);
  };
  window.onhashchange = route;
  route();
}

async function start(): Promise<void> {
  window.onhashchange = null;
  const api = Api.fromSession();
  if (!api) {
    show(
      signInView((signed) => void signedIn(signed)),
      root,
    );
    return;
  }
  try {
    await signedIn(api);
  } catch (err) {
    // A key revoked or a daemon restarted with another token: sign in again.
    Api.signOut();
    const view = signInView((signed) => void signedIn(signed));
    show(view, root);
    view.el.querySelector(".error")!.textContent = (err as Error).message;
  }
}

void start();
