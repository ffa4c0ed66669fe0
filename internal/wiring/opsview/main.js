// The operator's view: polls /ops/api/overview every 2 s while the page is
// visible, and shows this process's health, the lag and the outbox.

import { get } from "./api.js";
import { $, age, el, num, rows, setText, time } from "./dom.js";
import { showLag } from "./lag.js";
import { initTools, setGroups } from "./tools.js";

const EVERY = 2000;
let timer = 0;
let polling = false;

function showProcess(p) {
  const ready = $("ready");
  ready.dataset.ready = String(p.ready);
  setText(ready, p.ready ? "Ready." : `Not ready: ${p.cause}`);
  $("process").replaceChildren(`PID ${p.pid}, roles ${p.roles.map((r) => r.name).join(", ")}, version ${p.version}`,
    p.commit ? ` (${p.commit.slice(0, 12)})` : "", ", started ", time(p.started_at, true), ".");
  rows($("roles").tBodies[0], p.roles.map((r) => [
    r.name, r.group || "none", r.uses.join(", ") || "none", r.ok ? "OK" : el("span", { class: "err" }, `Failing: ${r.error}`),
  ]));
  rows($("checks").tBodies[0], p.checks.map((c) => [c.name, c.ok ? "OK" : el("span", { class: "err" }, c.error)]));
}

function showOutbox(o, at) {
  const box = $("outbox");
  box.dataset.pending = o.available && !o.error ? String(o.pending) : "";
  if (!o.available) return setText(box, `Not available: ${o.reason}.`);
  if (o.error) return setText(box, `Could not read the outbox: ${o.error}`);
  if (o.pending === 0) return setText(box, "0 events pending: every change is published.");
  setText(box, `${num(o.pending)} events pending, the oldest made ${age(at - Date.parse(o.oldest))} ago.`);
}

async function poll() {
  clearTimeout(timer);
  if (polling || document.hidden) return;
  polling = true;
  try {
    const o = await get("overview");
    const at = Date.parse(o.at);
    setText($("poll-error"), "");
    showProcess(o.process);
    setGroups(o.lag.groups.map((g) => g.role));
    showLag(o.lag, at);
    showOutbox(o.outbox, at);
    $("updated").replaceChildren("Updated ", time(o.at), ".");
  } catch (err) {
    setText($("poll-error"), `Could not update: ${err.message}`);
  } finally {
    polling = false;
    if (!document.hidden) timer = setTimeout(poll, EVERY);
  }
}

initTools();
document.addEventListener("visibilitychange", poll);
poll();
