// The other pages: a user's, notifications, search and trends.

import { call, qs, session } from "./api.js";
import { $, el, pager, postItem, report, richText, showError, tagLink, time, userLink } from "./dom.js";
import { setOnBlock, showRelations } from "./relations.js";
import { onUnread } from "./feed.js";

const userItem = (u) => el("li", {}, userLink(u));

// --- a user's page -------------------------------------------------------

let shownUser = "";
let blocking = false; // whether you block shownUser: no follow either way
const userPosts = pager($("user-posts"), $("user-more"),
  (cursor) => call("GET", `/v1/users/${shownUser}/posts${qs({ cursor })}`), (p) => postItem(p));

/** follows reports whether me follows user, paging me's following list. */
async function follows(me, user) {
  let cursor = "";
  for (let i = 0; i < 50; i++) {
    const page = await call("GET", `/v1/users/${me}/following${qs({ limit: 100, cursor })}`);
    if (page.items.includes(user)) return true;
    cursor = page.next_cursor;
    if (!cursor) return false;
  }
  return false;
}

function setFollowing(on) {
  const b = $("follow");
  b.textContent = on ? "Unfollow" : "Follow";
  b.setAttribute("aria-pressed", String(on));
}

async function toggleFollow() {
  const b = $("follow");
  const on = b.getAttribute("aria-pressed") === "true";
  b.disabled = true;
  showError("user-error", null);
  try {
    await call(on ? "DELETE" : "PUT", `/v1/following/${shownUser}`);
    setFollowing(!on);
    await lists();
  } catch (err) {
    // Across a block the API answers 403 with why ("bob has blocked
    // you"): the detail is shown.
    showError("user-error", err);
  } finally {
    b.disabled = blocking;
  }
}

/**
 * blockChanged keeps the follow button disabled while you block the user
 * (the note beside it says why); a new block ended the follows both ways.
 */
function blockChanged(blocked, changed) {
  blocking = blocked;
  $("follow").disabled = blocked;
  $("follow").classList.toggle("blocked", blocked);
  if (blocked && changed) {
    setFollowing(false);
    lists().catch((err) => showError("user-error", err));
  }
}

async function lists() {
  const [followers, following] = await Promise.all([
    call("GET", `/v1/users/${shownUser}/followers${qs({ limit: 100 })}`),
    call("GET", `/v1/users/${shownUser}/following${qs({ limit: 100 })}`),
  ]);
  $("followers").replaceChildren(...followers.items.map(userItem));
  $("following").replaceChildren(...following.items.map(userItem));
}

export async function showUser(user) {
  shownUser = user;
  $("user-title").textContent = `@${user}`;
  showError("user-error", null);
  const me = session.user;
  const b = $("follow");
  b.hidden = !me || me === user;
  $("relations").hidden = b.hidden;
  $("block-note").textContent = "";
  $("mute-note").textContent = "";
  const jobs = [userPosts.reset(), lists()];
  if (!b.hidden) jobs.push(follows(me, user).then(setFollowing), showRelations(user));
  try {
    await Promise.all(jobs);
  } catch (err) {
    showError("user-error", err);
  }
}

// --- notifications ----------------------------------------------------------

function noteItem(n) {
  const post = (text) => el("a", { href: `#/p/${n.post_id}` }, text);
  const what = {
    mention: () => [userLink(n.actor), " mentioned you in ", post("a post")],
    like: () => [userLink(n.actor), " liked ", post("your post")],
    reply: () => [userLink(n.actor), " ", post("replied"), " to your post"], // post_id: the reply
    repost: () => [userLink(n.actor), " reposted ", post("your post")],
    follow: () => [userLink(n.actor), " followed you"],
  }[n.kind] || (() => [userLink(n.actor), ` (${n.kind})`]); // a kind this app does not know yet
  // The post it is about, when it is still there: a line of it.
  const quote = n.post ? [el("blockquote", { class: "quote" }, ...richText(n.post.text))] : [];
  return el("li", { class: n.read ? "read" : "unread", dataset: { id: n.id, kind: n.kind } },
    el("p", {}, ...what()), ...quote, el("p", { class: "meta" }, time(n.created_at)));
}

const notes = pager($("notifications"), $("notifications-more"),
  (cursor) => call("GET", `/v1/notifications${qs({ cursor })}`), noteItem, $("notifications-empty"));

/** showNotifications lists them, then marks them read up to the newest shown. */
export async function showNotifications() {
  await notes.reset();
  const newest = $("notifications").querySelector("li");
  if (newest && newest.classList.contains("unread")) {
    await call("POST", "/v1/notifications/read", { up_to: newest.dataset.id });
    // Read now: the stream's next count would say so only later (or
    // never, with no stream open).
    onUnread(0);
  }
}

// --- search -----------------------------------------------------------------

let query = "";
const results = pager($("search-results"), $("search-more"),
  (cursor) => call("GET", `/v1/search${qs({ q: query, cursor })}`), (p) => postItem(p), $("search-empty"));

export function initPages() {
  $("follow").addEventListener("click", toggleFollow);
  setOnBlock(blockChanged);
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const hash = `#/search?q=${encodeURIComponent($("search-q").value)}`;
    // The same search again changes no hash: run it here.
    if (location.hash === hash) showSearch($("search-q").value).catch(report);
    else location.hash = hash;
  });
  $("trends-window").addEventListener("change", () => showTrends().catch(report));
}

export async function showSearch(q) {
  query = q;
  $("search-q").value = q;
  showError("search-error", null);
  $("search-results").replaceChildren();
  $("search-empty").hidden = true;
  $("search-more").hidden = true;
  if (!q) return;
  try {
    await results.reset();
  } catch (err) {
    showError("search-error", err);
  }
}

// --- trends -----------------------------------------------------------------

export async function showTrends() {
  showError("trends-error", null);
  try {
    const t = await call("GET", `/v1/trends${qs({ window: $("trends-window").value })}`);
    $("trends").replaceChildren(...t.items.map((tc) =>
      el("li", {}, tagLink(tc.tag), ` ${tc.count} posts`)));
    $("trends-empty").hidden = t.items.length > 0;
  } catch (err) {
    showError("trends-error", err);
  }
}
