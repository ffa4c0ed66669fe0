// The dead-letter list (feedsvc dlq list) and the replay plan (the dry run
// of feedsvc replay), each asked for with its form.

import { get } from "./api.js";
import { $, el, num, rows, setText, time } from "./dom.js";

/** setGroups fills the forms' group choices with the consumer groups' roles, once. */
export function setGroups(roles) {
  for (const id of ["dlq-group", "replay-group"]) {
    const select = $(id);
    if (select.options.length) continue;
    select.append(...roles.map((r) => el("option", { value: r }, r)));
  }
}

async function submit(form, errorId, work) {
  const button = form.querySelector("button");
  setText($(errorId), "");
  button.disabled = true;
  try {
    await work();
  } catch (err) {
    setText($(errorId), err.message);
  } finally {
    button.disabled = false;
  }
}

async function showDeadLetters(e) {
  e.preventDefault();
  await submit(e.target, "dlq-error", async () => {
    const d = await get("dlq", { group: $("dlq-group").value, limit: $("dlq-limit").value });
    $("dlq-wrap").hidden = d.items.length === 0;
    rows($("dlq").tBodies[0], d.items.map((x) => [
      el("code", {}, x.event_id), x.type, time(x.time, true), `${x.topic}/${x.partition}@${x.offset}`,
      x.replayed ? "yes" : "no", el("span", { class: "err" }, x.error),
    ]));
    const n = d.items.length;
    setText($("dlq-summary"), n === 0 ? `Group ${d.group} has no dead letters.`
      : `Group ${d.group}: ${d.more ? `the first ${n}` : n} dead-lettered event${n === 1 ? "" : "s"}.`);
  });
}

async function planReplay(e) {
  e.preventDefault();
  await submit(e.target, "replay-error", async () => {
    const when = new Date($("replay-time").value); // datetime-local is local time
    if (Number.isNaN(when.getTime())) throw new Error("Give a date and time.");
    const p = await get("replay", { group: $("replay-group").value, to_datetime: when.toISOString() });
    setText($("replay-summary"), `Group ${p.group}, reset to ${p.target}: ${num(p.reprocess)} events to reprocess, ${num(p.skip)} to skip.`);
    setText($("replay-live"), p.live ? `Executing would be refused now: ${p.live}.` : "");
    setText($("replay-command"), p.command);
    rows($("replay").tBodies[0], p.partitions.map((x) => [
      x.topic, String(x.partition), x.current < 0 ? "none" : num(x.current), num(x.new), num(x.end), num(x.reprocess), num(x.skip),
    ]));
    $("replay-result").hidden = false;
  });
}

/** local is a Date as a datetime-local value. */
function local(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function initTools() {
  $("replay-time").value = local(new Date(Date.now() - 60 * 60 * 1000));
  $("dlq-form").addEventListener("submit", showDeadLetters);
  $("replay-form").addEventListener("submit", planReplay);
}
