// Lists: your lists (#/lists), to make and delete, and one list (#/l/{id})
// with its members, to add and remove, and its timeline. Only the owner
// sees a list: the API answers anyone else 404.

import { call, qs } from "./api.js";
import { $, el, pager, postItem, report, showError, time, userLink } from "./dom.js";

const path = (id) => `/v1/lists/${encodeURIComponent(id)}`;

function say(text, ...more) {
  $("status").replaceChildren(text, ...more);
}

// --- your lists ---------------------------------------------------------------

function listItem(l) {
  const err = el("span", { class: "error", role: "alert" });
  const del = el("button", { type: "button", class: "delete", "aria-label": `Delete list ${l.name}` }, "Delete");
  const li = el("li", { dataset: { id: l.id } }, el("a", { href: `#/l/${l.id}` }, l.name), " ",
    el("span", { class: "meta" }, "made ", time(l.created_at)), del, err);
  del.addEventListener("click", async () => {
    if (!confirm(`Delete the list ${l.name}? Its members are not told.`)) return;
    del.disabled = true;
    err.textContent = "";
    try {
      await call("DELETE", path(l.id));
      li.remove();
      $("lists-empty").hidden = $("lists").children.length > 0;
      say(`Deleted the list ${l.name}.`);
    } catch (e) {
      err.textContent = e.message;
      del.disabled = false;
    }
  });
  return li;
}

/** showLists lists yours: one page holds them all (at most 20). */
export async function showLists() {
  showError("lists-error", null);
  try {
    const page = await call("GET", "/v1/lists");
    $("lists").replaceChildren(...page.items.map(listItem));
    $("lists-empty").hidden = page.items.length > 0;
  } catch (err) {
    if (err.status === 401) throw err; // signs out (main.js)
    showError("lists-error", err);
  }
}

async function createList(e) {
  e.preventDefault();
  const name = $("list-name");
  const button = $("list-create");
  button.disabled = true;
  showError("lists-error", null);
  try {
    // 400 for a bad name, 409 past the cap of lists: the detail says which.
    const l = await call("POST", "/v1/lists", { name: name.value });
    name.value = "";
    $("lists").append(listItem(l));
    $("lists-empty").hidden = true;
    say(`Made the list ${l.name}. `, el("a", { href: `#/l/${l.id}` }, "Open it"));
  } catch (err) {
    showError("lists-error", err);
  } finally {
    button.disabled = false;
  }
}

// --- one list -------------------------------------------------------------------

let shown = ""; // the ID of the list shown
let shownName = "";

function memberItem(user) {
  const b = el("button", { type: "button", class: "undo", "aria-label": `Remove ${user} from the list` }, "Remove");
  const li = el("li", { dataset: { user } }, userLink(user), " ", b);
  b.addEventListener("click", async () => {
    const id = shown;
    b.disabled = true;
    showError("list-error", null);
    try {
      await call("DELETE", `${path(id)}/members/${encodeURIComponent(user)}`);
      if (id !== shown) return;
      li.remove();
      $("members-empty").hidden = $("members").children.length > 0;
      say(`Removed @${user} from ${shownName}.`);
      await feed.reset(); // their posts leave the timeline at once
    } catch (err) {
      showError("list-error", err);
      b.disabled = false;
    }
  });
  return li;
}

const members = pager($("members"), $("members-more"),
  (cursor) => call("GET", `${path(shown)}/members${qs({ cursor })}`), memberItem, $("members-empty"));
const feed = pager($("list-feed"), $("list-feed-more"),
  (cursor) => call("GET", `${path(shown)}/feed${qs({ cursor })}`), (p) => postItem(p), $("list-feed-empty"));

export async function showList(id) {
  shown = id;
  shownName = "";
  showError("list-error", null);
  $("list-title").textContent = "List";
  $("list-body").hidden = true;
  for (const part of ["members", "list-feed"]) {
    $(part).replaceChildren();
    $(`${part}-empty`).hidden = true;
    $(`${part}-more`).hidden = true;
  }
  try {
    const l = await call("GET", path(id));
    if (id !== shown) return; // another list was asked for meanwhile
    shownName = l.name;
    $("list-title").textContent = l.name;
    $("list-body").hidden = false;
    await Promise.all([members.reset(), feed.reset()]);
  } catch (err) {
    // 404 for a list that is not yours, or deleted.
    if (err.status === 401) throw err;
    showError("list-error", err);
  }
}

async function addMember(e) {
  e.preventDefault();
  const id = shown;
  const input = $("member-name");
  const user = input.value.trim().replace(/^@/, "");
  const button = $("member-submit");
  button.disabled = true;
  showError("list-error", null);
  try {
    // 404 for an unknown user, 403 across a block, 409 past the cap of
    // members: the detail says which.
    await call("PUT", `${path(id)}/members/${encodeURIComponent(user)}`);
    if (id !== shown) return;
    input.value = "";
    say(`Added @${user} to ${shownName}.`);
    await Promise.all([members.reset(), feed.reset()]);
  } catch (err) {
    showError("list-error", err);
  } finally {
    button.disabled = false;
  }
}

export function initLists() {
  $("list-new").addEventListener("submit", (e) => createList(e).catch(report));
  $("member-add").addEventListener("submit", (e) => addMember(e).catch(report));
}
