// Small inline-SVG charts: vertical bars (grouped or stacked), lines and horizontal bars. Each
// chart is an <svg role="img"> whose label says what it shows; every mark has a <title> with its
// value, so hovering (or a screen reader's review) gives the numbers.

const NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#0a58ca", "#d4700a", "#1a7f37", "#8250df", "#b3261e", "#0598a8", "#6e7781"];
const W = 520;
const H = 230;
const PAD = { left: 64, right: 12, top: 12, bottom: 34 };

export const color = (i) => PALETTE[i % PALETTE.length];

function svgEl(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function tooltip(node, text) {
  node.append(svgEl("title", {}, text));
  return node;
}

/** Axis ticks at a round step (1, 2, 2.5 or 5 times a power of ten), about four of them, reaching `max`. */
function ticks(max, integer) {
  const raw = max > 0 ? max / 4 : 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const steps = [1, 2, 2.5, 5, 10].map((m) => m * power).filter((m) => !integer || Number.isInteger(m));
  const step = Math.max(integer ? 1 : 0, steps.find((m) => m >= raw));
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  return Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
}

function frame(label, summary) {
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${label}. ${summary}` });
  svg.dataset.chart = label;
  return svg;
}

function yAxis(svg, values, format) {
  const inner = H - PAD.top - PAD.bottom;
  const top = values[values.length - 1];
  for (const value of values) {
    const y = PAD.top + inner * (1 - value / top);
    svg.append(svgEl("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "axis" }));
    svg.append(svgEl("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, format(value)));
  }
  return (v) => PAD.top + inner * (1 - v / top);
}

function xLabels(svg, labels, xOf) {
  const every = Math.ceil(labels.length / 8);
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      svg.append(svgEl("text", { x: xOf(i), y: H - PAD.bottom + 16, "text-anchor": "middle" }, label));
    }
  });
}

function legend(series) {
  const ul = document.createElement("ul");
  ul.className = "legend";
  series.forEach((s, i) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.style.background = s.color || color(i);
    swatch.setAttribute("aria-hidden", "true");
    li.append(swatch, s.name);
    ul.append(li);
  });
  return ul;
}

function emptyNote(svg, values) {
  if (values.some((v) => v)) return;
  svg.dataset.empty = "true";
  svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "No data in this period"));
}

function wrap(svg, series) {
  const box = document.createElement("div");
  box.append(svg);
  if (series && series.length > 1) box.append(legend(series));
  return box;
}

/** Bars per label, one per series side by side, or stacked when `stacked`. */
export function barChart({ title, labels, series, stacked = false, format = String, integer = false }) {
  const totals = labels.map((_, i) => series.map((s) => s.values[i] || 0));
  const max = Math.max(0, ...totals.map((v) => (stacked ? v.reduce((a, b) => a + b, 0) : Math.max(0, ...v))));
  const svg = frame(title, `${labels.length} groups, up to ${format(max)}`);
  const yOf = yAxis(svg, ticks(max, integer), format);
  const slot = (W - PAD.left - PAD.right) / Math.max(labels.length, 1);
  const xOf = (i) => PAD.left + slot * (i + 0.5);
  const barWidth = (slot * 0.7) / (stacked ? 1 : series.length);
  labels.forEach((label, i) => {
    let base = 0;
    series.forEach((s, k) => {
      const value = s.values[i] || 0;
      const x = xOf(i) - (slot * 0.7) / 2 + (stacked ? 0 : k * barWidth);
      const y0 = yOf(stacked ? base : 0);
      const y1 = yOf((stacked ? base : 0) + value);
      base += stacked ? value : 0;
      const bar = svgEl("rect", { x, y: y1, width: Math.max(barWidth - 1, 1), height: Math.max(y0 - y1, 0), fill: s.color || color(k) });
      svg.append(tooltip(bar, `${label}, ${s.name}: ${format(value)}`));
    });
  });
  xLabels(svg, labels, xOf);
  emptyNote(svg, totals.flat());
  return wrap(svg, series);
}

/** One line per series; a null value breaks the line (no data that day). */
export function lineChart({ title, labels, series, format = String, max }) {
  const values = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const svg = frame(title, `${series.length} series over ${labels.length} days, up to ${format(Math.max(0, ...values))}`);
  const yOf = yAxis(svg, ticks(max ?? Math.max(0, ...values), false), format);
  const step = (W - PAD.left - PAD.right) / Math.max(labels.length, 1);
  const xOf = (i) => PAD.left + step * (i + 0.5);
  series.forEach((s, k) => {
    const stroke = s.color || color(k);
    let d = "";
    let pen = "M";
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = "M";
        return;
      }
      d += `${pen}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)} `;
      pen = "L";
      const dot = svgEl("circle", { cx: xOf(i), cy: yOf(v), r: 3.5, fill: stroke });
      svg.append(tooltip(dot, `${labels[i]}, ${s.name}: ${format(v)}`));
    });
    if (d) svg.prepend(svgEl("path", { d, fill: "none", stroke, "stroke-width": 2 }));
  });
  xLabels(svg, labels, xOf);
  emptyNote(svg, values);
  return wrap(svg, series);
}

/** One horizontal bar per label (for rankings: users by cost, engines by share). */
export function hbarChart({ title, labels, values, format = String }) {
  const rowHeight = 26;
  const height = Math.max(labels.length, 1) * rowHeight + 16;
  const left = 150;
  const svg = frame(title, labels.map((l, i) => `${l}: ${format(values[i])}`).join("; ") || "no data");
  svg.setAttribute("viewBox", `0 0 ${W} ${height}`);
  const top = Math.max(0, ...values) || 1;
  const widthOf = (v) => ((W - left - 80) * v) / top;
  labels.forEach((label, i) => {
    const y = 8 + i * rowHeight;
    svg.append(svgEl("text", { x: left - 8, y: y + 15, "text-anchor": "end" }, label));
    const bar = svgEl("rect", { x: left, y, width: Math.max(widthOf(values[i]), 1), height: rowHeight - 8, fill: color(0) });
    svg.append(tooltip(bar, `${label}: ${format(values[i])}`));
    svg.append(svgEl("text", { x: left + widthOf(values[i]) + 6, y: y + 15 }, format(values[i])));
  });
  if (!labels.length) {
    svg.dataset.empty = "true";
    svg.append(svgEl("text", { x: W / 2, y: 26, "text-anchor": "middle" }, "No data for this day"));
  }
  return wrap(svg);
}
