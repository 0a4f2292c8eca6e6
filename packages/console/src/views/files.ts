import {
  DownloadTicketSchema,
  FileEntrySchema,
  FileListSchema,
  type FileEntry,
} from "@paddock/protocol";
import { sandboxPath } from "../api.js";
import type { Context } from "../context.js";
import { h, replace, type View } from "../dom.js";
import { bytes } from "../format.js";

const join = (dir: string, name: string) => (dir === "/" ? `/${name}` : `${dir}/${name}`);
const parent = (dir: string) => dir.replace(/\/[^/]*$/, "") || "/";
const query = (path: string) => `?${new URLSearchParams({ path })}`;

/**
 * A sandbox's files through the files routes: browse directories, upload (the browser streams
 * the file as the request body) and download a file, or a directory as a tar (streamed by the
 * browser's download manager: never held whole in the page).
 */
export function filesView({ api, notify }: Context, id: string): View {
  let dir = "/";
  const where = h("input", { class: "path", name: "path", value: dir, "aria-label": "Directory" });
  const body = h("tbody");
  const upload = h("input", { type: "file", name: "upload", multiple: true });

  // Only the latest listing asked for is shown: an earlier, slower answer must not replace it.
  let asked = 0;
  const open = async (path: string) => {
    const mine = ++asked;
    const { entries } = await api.json(
      "GET",
      sandboxPath(id, `/files/list${query(path)}`),
      FileListSchema,
    );
    if (mine !== asked) return;
    dir = path;
    // Not while someone types another path into it.
    if (document.activeElement !== where) where.value = path;
    el.dataset.dir = path;
    entries.sort(
      (a, b) => Number(b.type === "dir") - Number(a.type === "dir") || a.name.localeCompare(b.name),
    );
    replace(
      body,
      dir !== "/" &&
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: "#", onclick: go(parent(dir)) }, "..")),
          h("td"),
          h("td"),
          h("td"),
        ),
      ...entries.map((entry) => row(entry)),
    );
  };
  const go = (path: string) => (event: Event) => {
    event.preventDefault();
    open(path).catch(notify);
  };
  const row = (entry: FileEntry) =>
    h(
      "tr",
      { "data-name": entry.name },
      h(
        "td",
        {},
        entry.type === "dir"
          ? h("a", { href: "#", onclick: go(entry.path) }, `${entry.name}/`)
          : entry.type === "symlink"
            ? `${entry.name} → ${entry.symlinkTarget ?? ""}`
            : entry.name,
      ),
      h("td", { class: "num" }, entry.type === "file" ? bytes(entry.size) : ""),
      h("td", {}, new Date(entry.mtime).toLocaleString()),
      h(
        "td",
        {},
        (entry.type === "file" || entry.type === "dir") &&
          h(
            "button",
            { type: "button", class: "download", onclick: () => download(entry).catch(notify) },
            entry.type === "dir" ? "Download .tar" : "Download",
          ),
      ),
    );
  const download = async (entry: FileEntry) => {
    const archive = entry.type === "dir";
    // A link cannot carry the bearer token: it carries a single-use ticket for this one path,
    // and the browser's download manager streams the answer to disk.
    const { url } = await api.json(
      "POST",
      sandboxPath(id, "/files/download-tickets"),
      DownloadTicketSchema,
      { json: { path: entry.path, archive } },
    );
    h("a", { href: url, download: archive ? `${entry.name}.tar` : entry.name }).click();
  };
  const send = async () => {
    for (const file of upload.files ?? []) {
      notify(`Uploading ${file.name}…`);
      await api.json(
        "PUT",
        sandboxPath(id, `/files${query(join(dir, file.name))}`),
        FileEntrySchema,
        {
          body: file,
        },
      );
    }
    notify(`Uploaded ${upload.files?.length ?? 0} file(s) to ${dir}`);
    upload.value = "";
    await open(dir);
  };
  upload.addEventListener("change", () => void send().catch(notify));

  const el = h(
    "div",
    { class: "files" },
    h(
      "form",
      {
        class: "toolbar",
        onsubmit: (event) => {
          event.preventDefault();
          open(where.value.trim() || "/").catch(notify);
        },
      },
      where,
      h("button", { type: "submit" }, "Open"),
      h("label", { class: "upload" }, "Upload: ", upload),
    ),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h("tr", {}, h("th", {}, "Name"), h("th", {}, "Size"), h("th", {}, "Modified"), h("th")),
      ),
      body,
    ),
  );
  return { el, mounted: () => void open(dir).catch(notify) };
}
