// Blocks and mutes: the buttons on a user's page, and the page listing
// yours (#/settings) with unblock and unmute.

import { call, qs } from "./api.js";
import { $, el, pager, showError, time, userLink } from "./dom.js";

const path = (what, user) => `/v1/${what}/${encodeURIComponent(user)}`;

/** The mute durations offered, as the API takes them, by their label. */
const durations = { "1h": "1 hour", "24h": "24 hours", "168h": "7 days" };
const hours = { "1h": 1, "24h": 24, "168h": 168 };

function say(text) {
  $("status").textContent = text;
}

/**
 * find pages through a list of the caller's (GET path) until match takes
 * an item, and returns it, or null when no page has one.
 */
async function find(list, match) {
  let cursor = "";
  for (let i = 0; i < 100; i++) {
    const page = await call("GET", `${list}${qs({ limit: 100, cursor })}`);
    const hit = page.items.find(match);
    if (hit !== undefined) return hit;
    cursor = page.next_cursor;
    if (!cursor) return null;
  }
  return null;
}

// --- the buttons on a user's page ------------------------------------------

let shown = ""; // the user whose page is shown
let blocked = false; // whether you block them
let mute = null; // your mute of them ({user, expires_at}), null if none
let onBlock = () => {};

/**
 * setOnBlock sets what is called with (blocked, changed) when the block
 * state of the shown user is known or changes (changed: by a click).
 */
export function setOnBlock(fn) { onBlock = fn; }

function renderBlock(changed) {
  const b = $("block");
  b.textContent = blocked ? "Unblock" : "Block";
  b.setAttribute("aria-pressed", String(blocked));
  $("block-note").textContent = blocked
    ? `You block @${shown}: neither of you sees the other's posts in your feeds, and you cannot follow each other. Unblock them to follow them.`
    : "";
  onBlock(blocked, changed);
}

function renderMute() {
  const b = $("mute");
  const on = mute !== null;
  b.textContent = on ? "Unmute" : "Mute";
  b.setAttribute("aria-pressed", String(on));
  $("mute-choice").hidden = on;
  const note = $("mute-note");
  note.replaceChildren();
  if (on) {
    note.append(`You mute @${shown}: their posts stay out of your feed `,
      mute.expires_at ? el("span", {}, "until ", time(mute.expires_at)) : "until you unmute them", ".");
  }
}

function enable(on) {
  $("block").disabled = !on;
  $("mute").disabled = !on;
}

/**
 * showRelations reads whether you block and mute user (paging your lists)
 * and shows it on the buttons; they stay disabled until it is known.
 */
export async function showRelations(user) {
  shown = user;
  blocked = false;
  mute = null;
  enable(false);
  renderBlock(false);
  renderMute();
  const [b, m] = await Promise.all([
    find("/v1/blocks", (u) => u === user),
    find("/v1/mutes", (x) => x.user === user),
  ]);
  if (user !== shown) return; // another page was asked for meanwhile
  blocked = b !== null;
  mute = m;
  renderBlock(false);
  renderMute();
  enable(true);
}

async function toggleBlock() {
  const user = shown;
  const on = !blocked;
  if (on && !confirm(`Block @${user}? This also ends the follows between you, both ways; unblocking does not bring them back.`)) return;
  enable(false);
  showError("user-error", null);
  try {
    await call(on ? "PUT" : "DELETE", path("blocks", user));
    if (user !== shown) return;
    blocked = on;
    renderBlock(true);
    say(on
      ? `You block @${user}. Their posts leave your feed within moments, and yours leave theirs.`
      : `You no longer block @${user}. The follows the block ended stay ended: follow them again if you wish.`);
  } catch (err) {
    showError("user-error", err);
  } finally {
    enable(true);
  }
}

async function toggleMute() {
  const user = shown;
  const on = mute === null;
  const d = $("mute-for").value;
  enable(false);
  showError("user-error", null);
  try {
    await call(on ? "PUT" : "DELETE", path("mutes", user), on && d ? { duration: d } : undefined);
    if (user !== shown) return;
    mute = !on ? null : { user, expires_at: d ? new Date(Date.now() + hours[d] * 3600e3).toISOString() : undefined };
    renderMute();
    say(on
      ? `You mute @${user} ${d ? `for ${durations[d]}` : "until you unmute them"}. Their posts leave your feed within moments; they are not told.`
      : `You no longer mute @${user}. Their posts come back into your feed within moments, if you follow them.`);
  } catch (err) {
    showError("user-error", err);
  } finally {
    enable(true);
  }
}

// --- the page listing your blocks and mutes ----------------------------------

/**
 * undoItem is a list item for user with a button that sends DELETE to
 * what (blocks or mutes), takes the item out of its list and says done.
 */
function undoItem(what, user, label, done, ...more) {
  const err = el("span", { class: "error", role: "alert" });
  const b = el("button", { type: "button", class: "undo", "aria-label": `${label} ${user}` }, label);
  const li = el("li", { dataset: { user } }, userLink(user), ...more, " ", b, " ", err);
  b.addEventListener("click", async () => {
    b.disabled = true;
    err.textContent = "";
    try {
      await call("DELETE", path(what, user));
      const list = li.parentElement;
      li.remove();
      $(`${what}-empty`).hidden = list.children.length > 0;
      say(`${done} @${user}.`);
    } catch (e) {
      err.textContent = e.message;
      b.disabled = false;
    }
  });
  return li;
}

const blockList = pager($("blocks"), $("blocks-more"),
  (cursor) => call("GET", `/v1/blocks${qs({ cursor })}`), (u) => undoItem("blocks", u, "Unblock", "You no longer block"), $("blocks-empty"));
const muteList = pager($("mutes"), $("mutes-more"),
  (cursor) => call("GET", `/v1/mutes${qs({ cursor })}`),
  (m) => undoItem("mutes", m.user, "Unmute", "You no longer mute", " ",
    el("span", { class: "meta" }, ...(m.expires_at ? ["until ", time(m.expires_at)] : ["until you unmute them"]))),
  $("mutes-empty"));

/** showSettings lists your blocks and mutes; a failure shows in its section. */
export async function showSettings() {
  const load = (list, id) => {
    showError(id, null);
    return list.reset().catch((err) => {
      if (err.status === 401) throw err; // signs out (main.js)
      showError(id, err);
    });
  };
  await Promise.all([load(blockList, "blocks-error"), load(muteList, "mutes-error")]);
}

export function initRelations() {
  $("block").addEventListener("click", toggleBlock);
  $("mute").addEventListener("click", toggleMute);
}
