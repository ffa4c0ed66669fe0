// A small SVG line chart: one line per series over a time window, from 0 to the highest value.

import { svg } from "./dom.js";

const W = 600;
const H = 120;

/** chart makes an empty chart: an <svg> to put in the page. */
export function chart(label) {
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": label, class: "chart" });
  s.append(svg("line", { x1: 0, y1: 0.5, x2: W, y2: 0.5, class: "grid" }), svg("line", { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: "grid" }));
  return s;
}

/**
 * draw puts series ([{cls, points: [[t, v], ...]}]) on the chart for the window
 * (ms) ending at now, and returns the highest value shown.
 */
export function draw(s, series, now, window) {
  let top = 0;
  for (const { points } of series) for (const [, v] of points) top = Math.max(top, v);
  const scale = Math.max(top, 1);
  const lines = series.map(({ cls, points }) => {
    const xy = points.map(([t, v]) => `${((W * (t - (now - window))) / window).toFixed(1)},${(H - 1 - ((H - 2) * v) / scale).toFixed(1)}`);
    return svg("polyline", { points: xy.join(" "), class: `line ${cls}`, "vector-effect": "non-scaling-stroke" });
  });
  for (const old of s.querySelectorAll("polyline")) old.remove();
  s.append(...lines);
  return top;
}
