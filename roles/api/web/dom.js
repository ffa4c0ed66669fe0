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

/** showError puts err's message in the alert element id ("" clears it). */
export function showError(id, err) {
  $(id).textContent = err ? err.message : "";
}

/** likes is the text of a like count: "1 like", "3 likes". */
export const likes = (n) => (n === 1 ? "1 like" : `${n} likes`);

/**
 * likeButton toggles the reader's like of p (PUT or DELETE
 * /v1/posts/{id}/like) and shows p's count, updated in place: p itself is
 * changed, so a list that renders it again keeps the state. Errors (a
 * block with the author: 403 with its detail) go to err.
 */
function likeButton(p, err) {
  const heart = el("span", { class: "heart", "aria-hidden": "true" });
  const button = el("button", { type: "button", class: "like", "aria-label": `Like post by ${p.author}` }, heart, " Like");
  const count = el("span", { class: "likes" });
  function show() {
    button.setAttribute("aria-pressed", String(Boolean(p.liked)));
    heart.textContent = p.liked ? "\u2665" : "\u2661";
    count.textContent = likes(p.like_count || 0);
  }
  button.addEventListener("click", async () => {
    const on = !p.liked;
    button.disabled = true;
    err.textContent = "";
    try {
      await call(on ? "PUT" : "DELETE", `/v1/posts/${p.id}/like`);
      p.like_count = Math.max(0, (p.like_count || 0) + (on ? 1 : -1));
      p.liked = on;
      show();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  });
  show();
  return [button, count];
}

/**
 * postItem renders a post as a list item, with its like button and count.
 * The author sees a moderated post as removed, and may delete their own
 * posts (onDeleted is then called).
 */
export function postItem(p, onDeleted) {
  const body = el("p", { class: "text" }, p.text);
  const meta = el("p", { class: "meta" }, userLink(p.author), " · ", el("a", { href: `#/p/${p.id}` }, time(p.created_at)));
  const article = el("article", { "aria-label": `post by ${p.author}` }, meta, body);
  if (p.moderated) {
    article.classList.add("removed");
    article.prepend(el("p", { class: "notice" }, `Removed by moderation (${p.moderated}): only you can see it.`));
  }
  const err = el("span", { class: "error", role: "alert" });
  const actions = el("p", { class: "actions" }, ...likeButton(p, err));
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
  const li = el("li", { dataset: { id: p.id } }, article);
  return li;
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
