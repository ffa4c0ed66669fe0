// Small DOM helpers and the rendering of a post.

import { call, session } from "./api.js";

export const $ = (id) => document.getElementById(id);

/** el makes an element: el("a", {href: "#/"}, "text", child...). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function time(iso) {
  return el("time", { datetime: iso }, when.format(new Date(iso)));
}

export function userLink(user) {
  return el("a", { href: `#/u/${encodeURIComponent(user)}`, class: "user" }, `@${user}`);
}

/** tagLink links a hashtag (folded, without its #) to the search for it. */
export function tagLink(tag, shown = `#${tag}`) {
  return el("a", { href: `#/search?q=${encodeURIComponent("#" + tag)}`, class: "tag" }, shown);
}

// A #tag or @mention as the server reads them (app.Hashtags, app.Mentions):
// the mark at the start of a word, not after a letter, digit, _ or another
// mark.
const marked = /(?<![\p{L}\p{N}_#@])([#@])([\p{L}\p{N}_]+)/gu;

/**
 * richText renders a post's text with its #tags linked to their search and
 * its @mentions of valid user names to the user's page; the rest is text.
 */
export function richText(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(marked)) {
    const name = m[2].toLowerCase();
    let link = null;
    if (m[1] === "#") link = tagLink(name, m[0]);
    else if (/^[a-z0-9_]{1,32}$/.test(name)) link = el("a", { href: `#/u/${name}`, class: "mention" }, m[0]);
    if (!link) continue;
    out.push(text.slice(last, m.index), link);
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

/** showError puts err's message in the alert element id ("" clears it). */
export function showError(id, err) {
  $(id).textContent = err ? err.message : "";
}

/** likes is the text of a like count: "1 like", "3 likes". */
export const likes = (n) => (n === 1 ? "1 like" : `${n} likes`);

/** reposts is the text of a repost count: "1 repost", "3 reposts". */
export const reposts = (n) => (n === 1 ? "1 repost" : `${n} reposts`);

/** replies is the text of a reply count: "1 reply", "3 replies". */
export const replies = (n) => (n === 1 ? "1 reply" : `${n} replies`);

/**
 * toggle makes a button for one of the reader's marks on p (a like, a
 * repost): it sends PUT or DELETE /v1/posts/{id}/{what} and shows the
 * mark (aria-pressed) and p's count, updated in place: p itself is
 * changed, so a list that renders it again keeps the state. Errors (a
 * block with the author: 403 with its detail) go to err.
 */
function toggle(p, err, { what, flag, count, label, icon, text }) {
  const glyph = el("span", { class: "icon", "aria-hidden": "true" });
  const button = el("button", { type: "button", class: what, "aria-label": `${label} post by ${p.author}` }, glyph, ` ${label}`);
  const shown = el("span", { class: `count ${what}s` });
  function show() {
    button.setAttribute("aria-pressed", String(Boolean(p[flag])));
    glyph.textContent = icon(Boolean(p[flag]));
    shown.textContent = text(p[count] || 0);
  }
  button.addEventListener("click", async () => {
    const on = !p[flag];
    button.disabled = true;
    err.textContent = "";
    try {
      await call(on ? "PUT" : "DELETE", `/v1/posts/${p.id}/${what}`);
      p[count] = Math.max(0, (p[count] || 0) + (on ? 1 : -1));
      p[flag] = on;
      show();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  });
  show();
  return [button, shown];
}

const likeButton = (p, err) => toggle(p, err,
  { what: "like", flag: "liked", count: "like_count", label: "Like", icon: (on) => (on ? "\u2665" : "\u2661"), text: likes });

/**
 * repostButton shares p with the reader's followers, or takes that back.
 * The API lets anyone repost a post they may like, their own included
 * (app/repost.go), so every post has one.
 */
const repostButton = (p, err) => toggle(p, err,
  { what: "repost", flag: "reposted", count: "repost_count", label: "Repost", icon: () => "\u21bb", text: reposts });

/** replyTo links to the post p replies to: "Replying to @alice". */
export function replyTo(p) {
  return el("a", { href: `#/p/${p.in_reply_to}`, class: "reply-to" }, `Replying to @${p.in_reply_to_author}`);
}

/**
 * postItem renders a post as a list item: who reposted it (for a feed
 * entry that is a repost), the post it replies to (unless opts.replyTo is
 * false: a thread shows that itself), its like and repost buttons with
 * their counts, and its reply count linking to its thread. The author
 * sees a moderated post as removed, and may delete their own posts
 * (onDeleted is then called).
 */
export function postItem(p, onDeleted, opts = {}) {
  const body = el("p", { class: "text" }, ...richText(p.text));
  const meta = el("p", { class: "meta" }, userLink(p.author), " · ", el("a", { href: `#/p/${p.id}` }, time(p.created_at)));
  const label = p.reposted_by ? `post by ${p.author}, reposted by ${p.reposted_by}` : `post by ${p.author}`;
  const article = el("article", { "aria-label": label }, meta, body);
  if (p.in_reply_to && opts.replyTo !== false) meta.after(el("p", { class: "meta" }, replyTo(p)));
  if (p.reposted_by) {
    article.prepend(el("p", { class: "reposted-by" }, el("span", { "aria-hidden": "true" }, "\u21bb "), userLink(p.reposted_by), " reposted"));
  }
  if (p.moderated) {
    article.classList.add("removed");
    article.prepend(el("p", { class: "notice" }, `Removed by moderation (${p.moderated}): only you can see it.`));
  }
  const err = el("span", { class: "error", role: "alert" });
  const thread = el("a", { href: `#/p/${p.id}`, class: "replies" }, replies(p.reply_count || 0));
  const actions = el("p", { class: "actions" }, ...likeButton(p, err), ...repostButton(p, err), thread);
  if (p.author === session.user) {
    const del = el("button", { type: "button", class: "delete", "aria-label": `Delete post from ${when.format(new Date(p.created_at))}` }, "Delete");
    del.addEventListener("click", async () => {
      if (!confirm("Delete this post?")) return;
      del.disabled = true;
      err.textContent = "";
      try {
        await call("DELETE", `/v1/posts/${p.id}`);
        li.remove();
        if (onDeleted) onDeleted(p);
      } catch (e) {
        err.textContent = e.message;
        del.disabled = false;
      }
    });
    actions.append(del);
  }
  actions.append(err);
  article.append(actions);
  const li = el("li", { dataset: p.repost_id ? { id: p.id, repostId: p.repost_id } : { id: p.id } }, article);
  return li;
}

/** MAX_TEXT is the most characters a post may have (the API's limit). */
const MAX_TEXT = 500;

/**
 * charCount shows in out how many characters of MAX_TEXT the textarea
 * holds, in code points as the API counts them.
 */
export function charCount(textarea, out) {
  const n = [...textarea.value].length;
  out.textContent = `${n} / ${MAX_TEXT}`;
  out.classList.toggle("over", n > MAX_TEXT);
}

/**
 * pager fills list with pages from load(cursor) (an API page: items and
 * next_cursor), with a "Load more" button while there is a next page.
 */
export function pager(list, more, load, render, empty) {
  let cursor = "";
  let gen = 0;
  async function next(reset) {
    const mine = reset ? ++gen : gen;
    if (reset) cursor = "";
    more.disabled = true;
    try {
      const page = await load(cursor);
      if (mine !== gen) return; // a newer reset won
      if (reset) list.replaceChildren();
      list.append(...page.items.map(render));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (empty) empty.hidden = list.children.length > 0;
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", () => next(false).catch(report));
  return { reset: () => next(true), get cursor() { return cursor; }, set cursor(c) { cursor = c; more.hidden = !c; } };
}

/** report shows an error that has no better place in the status line. */
export function report(err) {
  $("status").textContent = err.message;
}
