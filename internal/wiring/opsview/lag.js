// Each consumer group's lag: the figures, a chart per partition over the
// last 5 minutes this page has seen, and the partitions' table.

import { chart, draw } from "./chart.js";
import { $, el, num, rows, setText } from "./dom.js";

const WINDOW = 5 * 60 * 1000; // what the charts show
const MIN_SPAN = 60 * 1000; // the shortest the charts show
const RATE = 10 * 1000; // the rate's span

/** history per role: samples {t, committed, lags: Map("topic/partition" -> lag)}, oldest first. */
const history = new Map();
/** the rendered group per role. */
const cards = new Map();

/** showLag renders the lag part of an overview (lag) read at server time at (ms). */
export function showLag(lag, at) {
  setText($("lag-state"), lag.error ? `Could not read the lag: ${lag.error}` : lag.available ? "" : `Not available: ${lag.reason}.`);
  const box = $("groups");
  box.hidden = !lag.available;
  if (!lag.available || lag.error) return;
  const topics = [...new Set(lag.groups.flatMap((g) => g.partitions.map((p) => p.topic)))];
  for (const g of lag.groups) {
    const samples = record(g, at);
    let card = cards.get(g.role);
    if (!card) {
      card = makeCard(g);
      cards.set(g.role, card);
      box.append(card.article);
    }
    update(card, g, samples, topics, at);
  }
}

function record(g, at) {
  let samples = history.get(g.role);
  if (!samples) history.set(g.role, (samples = []));
  const lags = new Map(g.partitions.map((p) => [`${p.topic}/${p.partition}`, p.lag]));
  samples.push({ t: at, committed: g.committed, lags });
  while (samples.length && samples[0].t < at - WINDOW) samples.shift();
  return samples;
}

function makeCard(g) {
  const id = `group-${g.role}`;
  const figures = { lag: el("strong", { class: "lag" }), rate: el("strong", { class: "rate" }) };
  const svg = chart(`${g.role}: lag per partition`);
  const caption = el("figcaption");
  // Axes, in HTML beside the stretched SVG: the highest value and 0, the
  // window's start and now.
  const axis = { top: el("span", { class: "y-top" }), start: el("span") };
  const plot = el("div", { class: "plot", "aria-hidden": "true" }, axis.top, el("span", { class: "y-zero" }, "0"));
  const tbody = el("tbody");
  const table = el("table", {},
    el("caption", {}, `${g.role}: per partition`),
    el("thead", {}, el("tr", {}, ...["Topic", "Partition", "Committed", "End", "Lag"].map((h) => el("th", { scope: "col" }, h)))),
    tbody);
  const article = el("article", { id, class: "group", "aria-labelledby": `${id}-title`, dataset: { role: g.role } },
    el("h3", { id: `${id}-title` }, g.role, " ", el("small", {}, `group ${g.group}${g.here ? ", runs in this process" : ""}`)),
    el("p", { class: "figures" }, "Lag ", figures.lag, " events · rate ", figures.rate),
    el("figure", {}, el("div", { class: "plotted" }, plot, svg),
      el("div", { class: "x-axis", "aria-hidden": "true" }, axis.start, el("span", {}, "now")), caption),
    el("details", {}, el("summary", {}, "Partitions"),
      el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": `${g.role}: partitions` }, table)));
  return { article, figures, svg, caption, tbody, axis };
}

function update(card, g, samples, topics, at) {
  card.article.dataset.lag = String(g.lag);
  setText(card.figures.lag, num(g.lag));
  const r = rate(samples, at);
  card.article.dataset.rate = r === null ? "" : r.toFixed(1);
  setText(card.figures.rate, r === null ? "measuring" : `${r.toFixed(1)}/s`);
  const series = g.partitions.map((p) => {
    const key = `${p.topic}/${p.partition}`;
    const points = samples.filter((s) => s.lags.has(key)).map((s) => [s.t, s.lags.get(key)]);
    return { cls: `t${topics.indexOf(p.topic) % 4}`, points };
  });
  // The last 5 minutes, or since the page opened (at least a minute).
  const span = Math.min(WINDOW, Math.max(MIN_SPAN, at - samples[0].t));
  const top = draw(card.svg, series, at, span);
  const secs = Math.round(span / 1000);
  setText(card.axis.top, num(top));
  setText(card.axis.start, `${secs} s ago`);
  const label = `${g.role}: lag per partition over the last ${secs} s; now ${g.lag} in all, highest ${top} on one partition`;
  card.svg.setAttribute("aria-label", label);
  card.caption.replaceChildren(`Last ${secs} s, highest ${num(top)} on one partition; `,
    ...topics.flatMap((t, i) => [el("span", { class: `key t${i % 4}` }), ` ${t} `]));
  rows(card.tbody, g.partitions.map((p) => [p.topic, String(p.partition), p.committed < 0 ? "none" : num(p.committed), num(p.end), num(p.lag)]));
}

/** rate is the events handled per second over the last RATE ms (null until two samples span a second). */
function rate(samples, at) {
  const last = samples[samples.length - 1];
  const first = samples.find((s) => s.t >= at - RATE) || last;
  const span = (last.t - first.t) / 1000;
  if (span < 1) return null;
  return Math.max(0, (last.committed - first.committed) / span);
}
