// The home feed: compose, the list with its cursor, and the live stream.

import { call, qs, session } from "./api.js";
import { $, postItem, showError, report } from "./dom.js";

const MAX = 500;
const HEAD = 20; // the stream's page of newest posts (api.streamHead)

let posts = []; // newest first, as shown
let cursor = "";
let source = null;
let retry = null; // the timer that reopens a stream the browser gave up

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
 * head takes the stream's newest posts: they replace what is shown down to
 * the oldest of them (so deleted posts leave), older pages stay.
 */
function head(items) {
  let older = [];
  if (items.length >= HEAD) {
    const oldest = BigInt(items[items.length - 1].id);
    older = posts.filter((p) => BigInt(p.id) < oldest);
  }
  posts = items.concat(older);
  if (older.length === 0) cursor = items.length >= HEAD ? items[items.length - 1].id : "";
  render();
}

/** stream opens the feed's Server-Sent Events; the browser reconnects by itself. */
function stream() {
  if (source) return;
  // EventSource cannot send headers: this route alone takes the token in
  // the query (the access log records paths without it).
  source = new EventSource(`/v1/feed/stream${qs({ access_token: session.token })}`);
  source.addEventListener("feed", (e) => head(JSON.parse(e.data).items));
  source.addEventListener("notifications", (e) => onUnread(JSON.parse(e.data).unread));
  source.addEventListener("open", () => { $("feed-live").textContent = "Live: new posts appear here."; });
  source.addEventListener("error", () => {
    $("feed-live").textContent = "Reconnecting to live updates…";
    // The browser gives up for good after an answer other than 200 (503
    // at the server's cap or while it stops, 401 once the token expired):
    // reopen after a pause, if the token still works.
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      retry = setTimeout(reopen, 5000);
    }
  });
}

async function reopen() {
  retry = null;
  if (source || !session.token) return;
  try {
    await call("GET", `/v1/feed${qs({ limit: 1 })}`);
  } catch (err) {
    if (err.status === 401) {
      $("feed-live").textContent = "Your sign-in has expired: sign in again for live updates.";
      return;
    }
  }
  stream();
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
  const n = [...$("compose-text").value].length; // code points, as the API counts
  const out = $("compose-count");
  out.textContent = `${n} / ${MAX}`;
  out.classList.toggle("over", n > MAX);
}

async function compose(e) {
  e.preventDefault();
  const text = $("compose-text");
  const button = $("compose-submit");
  button.disabled = true;
  showError("compose-error", null);
  try {
    const p = await call("POST", "/v1/posts", { text: text.value });
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
