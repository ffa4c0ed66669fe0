// One post as a thread (#/p/{id}): the post it replies to, the post, a
// reply composer and its direct replies, oldest first.

import { call, createPost, qs } from "./api.js";
import { $, charCount, pager, postItem, replyTo, report, showError } from "./dom.js";

let shown = null; // the post whose thread is shown
let asked = 0; // the latest showPost: an older one's answer is dropped

/** onDeleted: the thread's post is gone, and so is its thread. */
function deleted() {
  $("status").textContent = "Deleted.";
  $("thread").hidden = true;
}

/** renderPost shows the thread's post again, with its counts as they are now. */
function renderPost() {
  $("post-one").replaceChildren(postItem(shown, deleted, { replyTo: false }));
}

/** replyDeleted: one reply fewer on the thread's post. */
function replyDeleted() {
  shown.reply_count = Math.max(0, (shown.reply_count || 0) - 1);
  renderPost();
  $("replies-empty").hidden = $("replies").children.length > 0;
}

/**
 * replyItem renders a reply; one shown already (the reader's own, added
 * when posted, then met again on a later page) is not shown twice.
 */
function replyItem(p) {
  if ($("replies").querySelector(`li[data-id="${p.id}"]`)) return document.createDocumentFragment();
  return postItem(p, replyDeleted, { replyTo: false });
}

const replies = pager($("replies"), $("replies-more"),
  (cursor) => call("GET", `/v1/posts/${shown.id}/replies${qs({ cursor })}`), replyItem, $("replies-empty"));

export async function showPost(id) {
  const mine = ++asked;
  shown = null;
  showError("post-error", null);
  showError("reply-error", null);
  showError("replies-error", null);
  $("post-one").replaceChildren();
  $("post-parent").replaceChildren();
  $("post-parent").hidden = true;
  $("thread").hidden = true;
  let p;
  try {
    p = await call("GET", `/v1/posts/${id}`);
  } catch (err) {
    if (err.status === 401) throw err; // signs out (main.js)
    showError("post-error", err);
    return;
  }
  if (mine !== asked) return; // another post was asked for meanwhile
  shown = p;
  if (p.in_reply_to) {
    $("post-parent").append(replyTo(p));
    $("post-parent").hidden = false;
  }
  renderPost();
  $("replies").replaceChildren();
  $("replies-empty").hidden = true;
  $("replies-more").hidden = true;
  $("thread").hidden = false;
  try {
    await replies.reset();
  } catch (err) {
    // Across a block with its author the post may be readable, but its
    // thread is 403 with why: shown, as a reply would be refused too.
    if (err.status === 401) throw err;
    showError("replies-error", err);
  }
}

function count() {
  charCount($("reply-text"), $("reply-count"));
}

async function reply(e) {
  e.preventDefault();
  if (!shown) return;
  const parent = shown;
  const text = $("reply-text");
  const button = $("reply-submit");
  button.disabled = true;
  showError("reply-error", null);
  try {
    const r = await createPost({ text: text.value, in_reply_to: parent.id });
    text.value = "";
    count();
    if (parent !== shown) return;
    // Replies read oldest first, so the newest goes last.
    $("replies").append(replyItem(r));
    $("replies-empty").hidden = true;
    parent.reply_count = (parent.reply_count || 0) + 1;
    renderPost();
    $("status").textContent = "Replied.";
  } catch (err) {
    showError("reply-error", err);
  } finally {
    button.disabled = false;
  }
}

export function initThread() {
  $("reply-text").addEventListener("input", () => {
    count();
    showError("reply-error", null); // the error was about the text before this edit
  });
  $("reply").addEventListener("submit", (e) => reply(e).catch(report));
}
