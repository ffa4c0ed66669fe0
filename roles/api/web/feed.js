// The home feed: compose, the list with its cursor, and the live stream.

import { call, createPost, qs, session } from "./api.js";
import { $, charCount, postItem, showError, report } from "./dom.js";

const HEAD = 20; // the stream's page of newest posts (api.streamHead)

let posts = []; // newest first, as shown
let cursor = "";
let source = null;
let retry = null; // the timer that reopens an ended stream
let opening = false; // a ticket is being asked for

/** onUnread is called with the unread notification count from the stream. */
export let onUnread = () => {};
export function setOnUnread(fn) { onUnread = fn; }

function render() {
  $("feed-list").replaceChildren(...posts.map((p) => postItem(p, removed)));
  $("feed-empty").hidden = posts.length > 0;
  $("feed-more").hidden = !cursor;
}

function removed(p) {
  posts = posts.filter((q) => q.id !== p.id);
  render();
}

async function load(reset) {
  const page = await call("GET", `/v1/feed${qs({ limit: HEAD, cursor: reset ? "" : cursor })}`);
  posts = reset ? page.items : posts.concat(page.items.filter((p) => !posts.some((q) => q.id === p.id)));
  cursor = page.next_cursor;
  render();
}

/**
 * entry is p's place in the feed: a repost sits where it was reposted
 * (repost_id), not where its original was posted.
 */
const entry = (p) => p.repost_id || p.id;

/**
 * head takes the stream's newest posts: they replace what is shown down to
 * the oldest of them (so deleted posts leave), older pages stay.
 */
function head(items) {
  let older = [];
  if (items.length >= HEAD) {
    const oldest = BigInt(entry(items[items.length - 1]));
    older = posts.filter((p) => BigInt(entry(p)) < oldest && !items.some((q) => q.id === p.id));
  }
  posts = items.concat(older);
  if (older.length === 0) cursor = items.length >= HEAD ? entry(items[items.length - 1]) : "";
  render();
}

/**
 * stream opens the feed's Server-Sent Events with a one-use ticket: an
 * EventSource cannot send the token in a header, and a token in the URL
 * would land in proxies' access logs. A ticket opens one stream only, so
 * the browser's own reconnect cannot be used: when the stream ends, it is
 * closed and opened again here with a new ticket.
 */
async function stream() {
  if (source || opening || !session.token) return;
  opening = true;
  let ticket;
  try {
    ticket = (await call("POST", "/v1/feed/stream/ticket")).ticket;
  } catch (err) {
    opening = false;
    if (err.status === 401) {
      $("feed-live").textContent = "Your sign-in has expired: sign in again for live updates.";
      return;
    }
    $("feed-live").textContent = "Reconnecting to live updates…";
    retry = setTimeout(stream, 5000);
    return;
  }
  opening = false;
  if (source || !session.token) return; // signed out meanwhile
  source = new EventSource(`/v1/feed/stream${qs({ ticket })}`);
  source.addEventListener("feed", (e) => head(JSON.parse(e.data).items));
  source.addEventListener("notifications", (e) => onUnread(JSON.parse(e.data).unread));
  source.addEventListener("open", () => { $("feed-live").textContent = "Live: new posts appear here."; });
  source.addEventListener("error", () => {
    $("feed-live").textContent = "Reconnecting to live updates…";
    // The stream ended (its lifetime, a restart) or was refused (503 at
    // the server's cap, which leaves it CLOSED: wait longer). Its ticket
    // is spent, so a new one opens the next.
    const refused = source && source.readyState === EventSource.CLOSED;
    if (source) source.close();
    source = null;
    clearTimeout(retry);
    retry = setTimeout(stream, refused ? 5000 : 1000);
  });
}

export function stopStream() {
  if (source) source.close();
  source = null;
  clearTimeout(retry);
  retry = null;
  posts = [];
  cursor = "";
}

function count() {
  charCount($("compose-text"), $("compose-count"));
}

async function compose(e) {
  e.preventDefault();
  const text = $("compose-text");
  const button = $("compose-submit");
  button.disabled = true;
  showError("compose-error", null);
  try {
    const p = await createPost({ text: text.value });
    text.value = "";
    count();
    $("status").textContent = "Posted.";
    // Your own post is not in your home feed: show it on your page.
    $("status").append(" ", Object.assign(document.createElement("a"), { href: `#/p/${p.id}`, textContent: "See it" }));
  } catch (err) {
    showError("compose-error", err);
  } finally {
    button.disabled = false;
  }
}

export function initFeed() {
  $("compose-text").addEventListener("input", () => {
    count();
    showError("compose-error", null); // the error was about the text before this edit
  });
  $("compose").addEventListener("submit", compose);
  $("feed-more").addEventListener("click", () => load(false).catch(report));
}

/** showFeed loads the first page and keeps the stream open. */
export function showFeed() {
  stream();
  return load(true);
}
