// The app's entry: sign in, the navigation and the routes (#/...).

import { call, session, tokenUser } from "./api.js";
import { $, report, showError } from "./dom.js";
import { initFeed, setOnUnread, showFeed, stopStream } from "./feed.js";
import { initLists, showList, showLists } from "./lists.js";
import { initPages, showNotifications, showSearch, showTrends, showUser } from "./pages.js";
import { initRelations, showSettings } from "./relations.js";
import { initThread, showPost } from "./thread.js";

const views = ["signin", "feed", "user", "post", "notifications", "search", "trends", "lists", "list", "settings"];

function show(name) {
  for (const v of views) $(`view-${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll("#nav a")) a.removeAttribute("aria-current");
}

function current(id) {
  $(id).setAttribute("aria-current", "page");
}

function signedIn() {
  const on = Boolean(session.token);
  $("nav").hidden = !on;
  $("me").textContent = session.user;
  $("nav-me").href = `#/u/${encodeURIComponent(session.user)}`;
  return on;
}

/** route shows the page the hash names. */
async function route() {
  $("status").textContent = "";
  if (!signedIn()) {
    show("signin");
    $("dev-login").hidden = document.body.dataset.devLogin !== "on";
    return;
  }
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  try {
    switch (parts[0]) {
      case "u":
        show("user");
        if (parts[1] === session.user) current("nav-me");
        await showUser(parts[1]);
        break;
      case "p":
        show("post");
        await showPost(parts[1]);
        break;
      case "notifications":
        show("notifications");
        current("nav-notifications");
        await showNotifications();
        setUnread(0); // all read now: the stream may tell only on its next read
        break;
      case "search":
        show("search");
        current("nav-search");
        await showSearch(params.get("q") || "");
        break;
      case "trends":
        show("trends");
        current("nav-trends");
        await showTrends();
        break;
      case "lists":
        show("lists");
        current("nav-lists");
        await showLists();
        break;
      case "l":
        show("list");
        current("nav-lists");
        await showList(parts[1]);
        break;
      case "settings":
        show("settings");
        current("nav-settings");
        await showSettings();
        break;
      default:
        show("feed");
        current("nav-feed");
        await showFeed();
    }
  } catch (err) {
    if (err.status === 401) {
      signOut();
      showError("signin-error", err);
      return;
    }
    report(err);
  }
}

function signOut() {
  stopStream();
  session.clear();
  setUnread(0);
  route();
}

function setUnread(n) {
  const b = $("unread");
  b.textContent = n >= 50 ? "50+" : String(n);
  b.hidden = n === 0;
  b.setAttribute("aria-label", `${n} unread`);
}

async function devLogin(e) {
  e.preventDefault();
  showError("signin-error", null);
  try {
    const r = await call("POST", "/v1/dev/login", { user: $("dev-user").value });
    session.set(r.user, r.token);
    location.hash = "#/";
    await route();
    $("main").focus();
  } catch (err) {
    showError("signin-error", err);
  }
}

async function tokenLogin(e) {
  e.preventDefault();
  const token = $("token").value.trim();
  const user = tokenUser(token);
  if (!user) {
    showError("signin-error", new Error("That is not a JWT with a subject."));
    return;
  }
  session.set(user, token);
  location.hash = "#/";
  await route();
}

$("dev-login").addEventListener("submit", devLogin);
$("token-login").addEventListener("submit", tokenLogin);
$("sign-out").addEventListener("click", signOut);
setOnUnread(setUnread);
setUnread(0);
initFeed();
initPages();
initThread();
initLists();
initRelations();
addEventListener("hashchange", route);
route();
