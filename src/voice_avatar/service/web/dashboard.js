// The admin dashboard: GET /v1/reports/history, drawn as trends over the window and a close look
// at the latest day that had traffic (today is often still empty in the morning).

import { announce, api, explain, forgetKey, saveKey, savedKey } from "./api.js";
import { barChart, color, hbarChart, lineChart } from "./charts.js";

const $ = (id) => document.getElementById(id);
const num = (v) => (v === null || v === undefined ? null : Number(v));
const usd = (v) => {
  if (v === null || v === undefined) return "—";
  const amount = Number(v);
  const size = Math.abs(amount);
  const places = size >= 10 ? 2 : size >= 0.01 || size === 0 ? 4 : 6; // fractions of a cent still add up
  return `${amount < 0 ? "-" : ""}$${size.toFixed(places)}`;
};
const pct = (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(1)} %`);
const count = (v) => String(Math.round(v));
const ms = (v) => `${Math.round(v)} ms`;

async function load(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) {
    announce("Enter an administrator's API key first.", "error");
    $("api-key").focus();
    return;
  }
  saveKey(key);
  const days = Number($("days").value);
  announce("Loading the reports…");
  let history;
  try {
    history = await api(`/v1/reports/history?days=${days}`);
  } catch (error) {
    if (error.status === 401) forgetKey();
    announce(explain(error, "see the dashboard"), "error");
    $("api-key").focus();
    return;
  }
  render(history);
  $("span-days").textContent = String(days);
  $("board").hidden = false;
  $("h-trends").focus();
  const total = history.reduce((sum, day) => sum + day.generations.total, 0);
  announce(`Showing ${days} days: ${total} generations in all.`);
}

function place(id, chart) {
  const figure = $(id);
  figure.querySelector(":scope > div")?.remove();
  figure.append(chart);
}

function render(history) {
  const labels = history.map((d) => d.day.slice(5));
  const engines = [...new Set(history.flatMap((d) => [...Object.keys(d.service_mix), ...Object.keys(d.latency_by_engine)]))].sort();
  const engineSeries = (pick) => engines.map((engine, i) => ({ name: engine, color: color(i), values: history.map((d) => pick(d, engine)) }));

  place("chart-generations", barChart({
    title: "Generations per day",
    labels,
    stacked: true,
    integer: true,
    format: count,
    series: [
      { name: "cache hits", values: history.map((d) => d.generations.cache_hits) },
      { name: "cache misses", values: history.map((d) => d.generations.cache_misses) },
    ],
  }));
  place("chart-hit-rate", lineChart({
    title: "Cache hit rate",
    labels,
    max: 100,
    format: (v) => `${Math.round(v)} %`,
    series: [{ name: "hit rate", values: history.map((d) => (d.generations.hit_rate === null ? null : d.generations.hit_rate * 100)) }],
  }));
  place("chart-latency", lineChart({
    title: "Latency by engine",
    labels,
    format: ms,
    series: engineSeries((d, engine) => d.latency_by_engine[engine]?.miss?.mean_ms ?? null),
  }));
  place("chart-mix", barChart({
    title: "Service mix",
    labels,
    stacked: true,
    integer: true,
    format: count,
    series: engineSeries((d, engine) => d.service_mix[engine]?.messages ?? 0),
  }));

  const latest = [...history].reverse().find((d) => d.generations.total > 0) || history[history.length - 1];
  document.querySelectorAll(".latest-day").forEach((node) => (node.textContent = latest.day));
  const top = latest.cost_per_user.top;
  place("chart-users", hbarChart({
    title: `Cost per user on ${latest.day}`,
    labels: top.map((u) => `${u.name} (${u.tier})`),
    values: top.map((u) => num(u.cost_usd)),
    format: usd,
  }));
  const tiers = Object.keys(latest.margins.by_tier);
  place("chart-margins", barChart({
    title: `Margins per tier on ${latest.day}`,
    labels: tiers,
    format: usd,
    series: [
      { name: "revenue (day's share)", values: tiers.map((t) => num(latest.margins.by_tier[t].revenue_usd) || 0) },
      { name: "engine cost", values: tiers.map((t) => num(latest.margins.by_tier[t].cost_usd) || 0) },
    ],
  }));
  renderAlerts(history);
  renderReport(latest);
}

function renderAlerts(history) {
  const alerts = history.flatMap((d) => d.alerts.map((a) => ({ ...a, day: d.day }))).reverse();
  const items = alerts.map((a) => Object.assign(document.createElement("li"), { textContent: a.message }));
  if (!items.length) items.push(Object.assign(document.createElement("li"), { textContent: "No cost alerts in this period.", className: "empty" }));
  $("alerts").replaceChildren(...items);
}

function table(caption, headings, rows) {
  const node = document.createElement("table");
  node.createCaption().textContent = caption;
  const head = node.createTHead().insertRow();
  headings.forEach((h, i) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    if (i) th.className = "num";
    head.append(th);
  });
  const body = node.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    row.forEach((value, i) => {
      const cell = document.createElement(i ? "td" : "th");
      if (i) cell.className = "num";
      else cell.scope = "row";
      cell.textContent = value;
      tr.append(cell);
    });
  }
  return node;
}

function renderReport(day) {
  const g = day.generations;
  const margin = day.margins.total;
  const summary = table("Summary", ["Measure", "Value"], [
    ["Generations", count(g.total)],
    ["Cache hits / misses", `${g.cache_hits} / ${g.cache_misses}`],
    ["Cache hit rate", pct(g.hit_rate === null ? null : g.hit_rate * 100)],
    ["Engine cost", usd(day.cost_breakdown.total_usd)],
    ["Cost per message", usd(day.cost_breakdown.per_message_usd)],
    ["Saved by the cache", usd(day.cache_savings.total_usd)],
    ["Active users", String(day.cost_per_user.active_users)],
    ["Revenue (day's share)", usd(margin.revenue_usd)],
    ["Margin", `${usd(margin.margin_usd)} (${pct(margin.margin_pct)})`],
  ]);
  const engines = Object.entries(day.service_mix).map(([engine, m]) => {
    const latency = day.latency_by_engine[engine] || {};
    return [engine, count(m.messages), pct(m.share * 100), count(m.characters), count(m.cache_hits), usd(m.cost_usd),
      latency.miss ? ms(latency.miss.mean_ms) : "—", latency.hit ? ms(latency.hit.mean_ms) : "—"];
  });
  const mix = table("Service mix", ["Engine", "Messages", "Share", "Characters", "Cache hits", "Cost", "Latency (miss)", "Latency (hit)"], engines);
  const tiers = Object.entries(day.margins.by_tier).map(([tier, m]) =>
    [tier, count(m.users), usd(m.revenue_usd), usd(m.cost_usd), usd(m.margin_usd), pct(m.margin_pct)]);
  const margins = table("Margins per tier", ["Tier", "Users", "Revenue", "Cost", "Margin", "Margin %"], tiers);
  const users = day.cost_per_user.top.map((u) => [`${u.name} (${u.tier})`, count(u.messages), count(u.characters), count(u.cache_hits), usd(u.cost_usd)]);
  const top = table("Costliest users", ["User", "Messages", "Characters", "Cache hits", "Cost"], users);
  $("report-tables").replaceChildren(summary, mix, margins, top);
}

$("api-key").value = savedKey();
$("key-form").addEventListener("submit", load);
