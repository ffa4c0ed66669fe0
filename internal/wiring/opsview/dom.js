// Small DOM helpers and number, time and age formats.

export const $ = (id) => document.getElementById(id);

/** el makes an element: el("td", {class: "n"}, "text", child...). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

const SVG = "http://www.w3.org/2000/svg";

/** svg makes an SVG element with attributes. */
export function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** setText changes an element's text only when it differs (live regions announce each change). */
export function setText(e, text) {
  if (e.textContent !== text) e.textContent = text;
}

/** rows replaces a table body's rows: each row is a list of cells (strings or nodes). */
export function rows(tbody, list) {
  tbody.replaceChildren(...list.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))));
}

const count = new Intl.NumberFormat();
export const num = (n) => count.format(n);

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const stamp = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** time is a <time> of an ISO instant, as a clock time (or date and time with full). */
export function time(iso, full = false) {
  const d = new Date(iso);
  return el("time", { datetime: d.toISOString() }, (full ? stamp : clock).format(d));
}

/** age says how long ms is: "4 s", "3 min 2 s", "2 h 5 min". */
export function age(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
