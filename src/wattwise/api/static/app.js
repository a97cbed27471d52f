// wattwise dashboard: polls the JSON API and draws SVG charts. No libraries, no network
// beyond this server. A token given as #token=... (or typed in) is sent as a Bearer header;
// reads from loopback need none.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#bc8cff", "#f85149", "#39c5cf", "#db61a2", "#8b98a5"];
const state = { token: null, lastOk: 0 };

function readToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) { sessionStorage.setItem("wattwise-token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
  state.token = sessionStorage.getItem("wattwise-token");
}

async function api(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const res = await fetch(path, { headers, cache: "no-store" });
  if (res.status === 401 || res.status === 403) {
    document.getElementById("auth").hidden = false;
    throw new Error("token needed (" + res.status + ")");
  }
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}

// -- small helpers ----------------------------------------------------------------------
function el(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function fmt(x, digits) { return x === null || x === undefined || !isFinite(x) ? "–" : Number(x).toFixed(digits); }
function fmtEnergy(j) {
  if (j === null || j === undefined) return "–";
  if (j >= 3.6e6) return (j / 3.6e6).toFixed(3) + " kWh";
  if (j >= 3600) return (j / 3600).toFixed(2) + " Wh";
  return j.toFixed(1) + " J";
}
function fmtGrams(g) {
  if (g === null || g === undefined) return "–";
  if (g >= 1000) return (g / 1000).toFixed(2) + " kg";
  if (g >= 1) return g.toFixed(2) + " g";
  return (g * 1000).toFixed(1) + " mg";
}
function hhmm(t) { const d = new Date(t * 1000); return d.toISOString().slice(11, 16); }
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }

// A frame: maps data to the SVG's viewBox with a left/bottom margin for the axes.
function frame(svg, x0, x1, y0, y1, m) {
  const vb = svg.viewBox.baseVal, W = vb.width, H = vb.height;
  m = m || { l: 40, r: 8, t: 8, b: 18 };
  const sx = v => m.l + (W - m.l - m.r) * (x1 > x0 ? (v - x0) / (x1 - x0) : 0);
  const sy = v => H - m.b - (H - m.t - m.b) * (y1 > y0 ? (v - y0) / (y1 - y0) : 0);
  svg.appendChild(el("line", { x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b, class: "axis" }));
  svg.appendChild(el("line", { x1: m.l, y1: m.t, x2: m.l, y2: H - m.b, class: "axis" }));
  // Enough decimals that the five tick labels differ.
  const span = Math.abs(y1 - y0) || 1;
  const digits = span >= 40 ? 0 : Math.min(4, Math.max(1, Math.ceil(-Math.log10(span / 4)) + 1));
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4;
    svg.appendChild(el("text", { x: m.l - 4, y: sy(v) + 3, "text-anchor": "end" }, v.toFixed(digits)));
  }
  return { sx, sy, W, H, m };
}
function xTicks(svg, f, x0, x1, label) {
  for (let i = 0; i <= 4; i++) {
    const v = x0 + (x1 - x0) * i / 4;
    svg.appendChild(el("text", { x: f.sx(v), y: f.H - 4, "text-anchor": "middle" }, label(v)));
  }
}
function path(points, f) { return points.map((p, i) => (i ? "L" : "M") + f.sx(p[0]).toFixed(1) + "," + f.sy(p[1]).toFixed(1)).join(""); }

// -- panels -------------------------------------------------------------------------------
function drawPower(data) {
  const svg = document.getElementById("power-chart"), legend = document.getElementById("power-legend");
  clear(svg); legend.innerHTML = "";
  const now = data.now_s, x0 = now - 120;
  let ymax = 1, count = 0;
  for (const s of data.series) for (const p of s.points) { if (p.t_s >= x0) { ymax = Math.max(ymax, p.power_w); count++; } }
  const f = frame(svg, x0, now, 0, ymax * 1.15);
  xTicks(svg, f, x0, now, v => "-" + Math.round(now - v) + " s");
  svg.appendChild(el("text", { x: f.m.l + 4, y: 16 }, "W"));
  data.series.forEach((s, i) => {
    const pts = s.points.filter(p => p.t_s >= x0).map(p => [p.t_s, p.power_w]);
    const color = COLORS[i % COLORS.length];
    if (pts.length > 1) svg.appendChild(el("path", { d: path(pts, f), fill: "none", stroke: color, "stroke-width": 1.6 }));
    const last = pts.length ? pts[pts.length - 1][1] : null;
    legend.insertAdjacentHTML("beforeend",
      `<span><span class="sw" style="background:${color}"></span> ${esc(s.node)} · ${esc(s.device)} <b>${fmt(last, 1)} W</b></span>`);
  });
  svg.setAttribute("data-points", String(count));
}

function drawGrid(g) {
  const svg = document.getElementById("grid-chart"); clear(svg);
  document.getElementById("grid-note").textContent = g.available ? "(" + g.source.split(" (")[0].split("/").pop() + (g.speed > 1 ? ", replayed ×" + Math.round(g.speed) : "") + ")" : "";
  document.getElementById("c-grid").textContent = g.intensity_now === null ? "–" : Math.round(g.intensity_now) + " g/kWh";
  if (g.now_s) document.getElementById("clock").textContent = (g.speed > 1 ? "replay clock " : "") + new Date(g.now_s * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  if (!g.available) { svg.appendChild(el("text", { x: 300, y: 110, "text-anchor": "middle" }, g.source)); return; }
  const actual = g.times_s.map((t, i) => [t, g.values[i]]);
  const fc = g.forecast_times_s.map((t, i) => [t, g.forecast_values[i]]);
  const xs = actual.concat(fc).map(p => p[0]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) + 3600;
  const ymax = Math.max(10, ...actual.concat(fc).map(p => p[1])) * 1.1;
  const f = frame(svg, x0, x1, 0, ymax);
  for (const w of g.windows) {
    const a = Math.max(x0, w.start_s), b = Math.min(x1, Math.max(w.end_s, w.start_s + 600));
    if (b <= a) continue;
    const r = el("rect", { x: f.sx(a), y: f.m.t, width: Math.max(1.5, f.sx(b) - f.sx(a)), height: f.H - f.m.t - f.m.b, fill: "rgba(63,185,80,.22)" });
    r.appendChild(el("title", {}, w.name + " (" + w.status + ")"));
    svg.appendChild(r);
  }
  const step = pts => pts.flatMap((p, i) => i + 1 < pts.length ? [p, [pts[i + 1][0], p[1]]] : [p, [p[0] + 3600, p[1]]]);
  if (actual.length) svg.appendChild(el("path", { d: path(step(actual), f), fill: "none", stroke: "#58a6ff", "stroke-width": 2 }));
  if (fc.length) svg.appendChild(el("path", { d: path(step(fc), f), fill: "none", stroke: "#bc8cff", "stroke-width": 1.6, "stroke-dasharray": "5 3" }));
  svg.appendChild(el("line", { x1: f.sx(g.now_s), x2: f.sx(g.now_s), y1: f.m.t, y2: f.H - f.m.b, stroke: "#d29922", "stroke-width": 1.5 }));
  xTicks(svg, f, x0, x1, hhmm);
  svg.appendChild(el("text", { x: f.m.l + 4, y: 16 }, "gCO₂e/kWh"));
}

function drawJobs(page, grid) {
  const jobs = page.items.slice().reverse();  // oldest first, top to bottom
  const svg = document.getElementById("jobs-chart"); clear(svg);
  const rowH = 18, H = 24 + rowH * Math.max(1, jobs.length);
  svg.setAttribute("viewBox", `0 0 1200 ${H}`); svg.style.height = H + "px";
  const now = grid && grid.now_s ? grid.now_s : Date.now() / 1000;
  if (!jobs.length) { svg.appendChild(el("text", { x: 600, y: 20, "text-anchor": "middle" }, "no jobs yet")); }
  else {
    const x0 = Math.min(...jobs.map(j => j.submitted_s));
    const x1 = Math.max(now, ...jobs.map(j => j.ended_s || j.planned_start_s || j.submitted_s)) + 600;
    const m = { l: 150, r: 8, t: 4, b: 18 };
    const sx = v => m.l + (1200 - m.l - m.r) * (v - x0) / (x1 - x0);
    jobs.forEach((j, i) => {
      const y = m.t + i * rowH;
      svg.appendChild(el("text", { x: 4, y: y + 12 }, j.name.slice(0, 24)));
      const started = j.started_s || (j.status === "cancelled" ? j.ended_s : null) || now;
      const waitColor = j.status === "waiting" || (j.planned_start_s && j.planned_start_s > j.submitted_s + 60) ? "#d29922" : "#6e7681";
      svg.appendChild(el("rect", { x: sx(j.submitted_s), y: y + 3, width: Math.max(1, sx(started) - sx(j.submitted_s)), height: rowH - 6, fill: waitColor, opacity: 0.75 }));
      if (j.status === "waiting" && j.planned_start_s) {
        svg.appendChild(el("line", { x1: sx(j.planned_start_s), x2: sx(j.planned_start_s), y1: y + 1, y2: y + rowH - 1, stroke: "#3fb950", "stroke-width": 2 }));
      }
      if (j.started_s) {
        const end = j.ended_s || now;
        const color = { running: "#58a6ff", done: "#3fb950", failed: "#f85149", cancelled: "#f85149" }[j.status] || "#58a6ff";
        svg.appendChild(el("rect", { x: sx(j.started_s), y: y + 2, width: Math.max(2, sx(end) - sx(j.started_s)), height: rowH - 4, fill: color }));
      }
    });
    svg.appendChild(el("line", { x1: sx(now), x2: sx(now), y1: 0, y2: H - m.b, stroke: "#d29922", "stroke-width": 1.5 }));
    for (let i = 0; i <= 6; i++) { const v = x0 + (x1 - x0) * i / 6; svg.appendChild(el("text", { x: sx(v), y: H - 4, "text-anchor": "middle" }, hhmm(v))); }
  }
  const body = document.querySelector("#jobs-table tbody");
  body.innerHTML = page.items.map(j => `<tr data-status="${j.status}"><td>${esc(j.name)}</td><td>${esc(j.kind)}</td>
    <td class="st-${j.status}">${j.status === "waiting" ? "waiting for clean power" : j.status}</td><td>${esc(j.node || "")}</td>
    <td class="num">${fmt(j.duration_s, 1)}</td><td class="num">${fmt(j.energy_j, 1)}${j.estimated && j.energy_j ? ' <span class="est">est.</span>' : ""}</td>
    <td class="num">${fmt(j.co2e_g, 4)}</td><td class="num">${fmt(j.baseline_co2e_g, 4)}</td><td class="detail">${esc(j.detail || "")}</td></tr>`).join("");
}

function drawSummary(s) {
  document.getElementById("c-energy").innerHTML = fmtEnergy(s.energy_j) + (s.estimated ? ' <span class="est">est.</span>' : "");
  document.getElementById("c-co2").textContent = fmtGrams(s.co2e_g);
  document.getElementById("c-base").textContent = fmtGrams(s.baseline_co2e_g);
  document.getElementById("c-saved").textContent = s.saved_percent === null ? "–" : fmtGrams(s.saved_co2e_g) + " (" + s.saved_percent.toFixed(0) + "%)";
  const order = ["queued", "waiting", "running", "suspended", "done", "failed", "cancelled"];
  document.getElementById("c-jobs").textContent = order.filter(k => s.jobs[k]).map(k => s.jobs[k] + " " + k).join(" · ") || "none";
}

function drawRuns(page) {
  document.getElementById("runs-note").textContent = "(" + page.total + " stored)";
  document.querySelector("#runs-table tbody").innerHTML = page.items.map(r => `<tr><td>${r.id}</td><td>${esc(r.name)}</td>
    <td class="st-${r.status === "completed" ? "done" : r.status}">${esc(r.status)}</td><td class="num">${fmt(r.duration_s, 1)}</td>
    <td class="num">${fmt(r.energy_j, 1)}</td><td class="num">${fmt(r.co2e_g, 4)}</td><td>${r.estimated ? '<span class="est">est.</span>' : ""}</td></tr>`).join("");
}

function drawPareto(report, id) {
  const svg = document.getElementById("pareto-chart"); clear(svg);
  const note = document.getElementById("pareto-note");
  if (!report) { note.textContent = ""; svg.appendChild(el("text", { x: 300, y: 130, "text-anchor": "middle" }, "no optimize report yet (wattwise optimize writes one)")); return; }
  const metric = report.metric && report.metric.name ? report.metric.name : "quality";
  const pts = (report.candidates || []).filter(c => c.energy_per_item_j != null && c.quality != null && !c.error);
  if (!pts.length) { note.textContent = ""; svg.appendChild(el("text", { x: 300, y: 130, "text-anchor": "middle" }, "report has no measured candidates")); return; }
  // Energy per item in the unit that reads best; quality range from the recipes that keep
  // the budget (and the baseline), so one broken recipe does not flatten the plot.
  const maxE = Math.max(...pts.map(c => c.energy_per_item_j));
  const [scale, unit] = maxE < 1e-3 ? [1e6, "µJ"] : maxE < 1 ? [1e3, "mJ"] : [1, "J"];
  const base = report.baseline ? report.baseline.name : null, chosen = report.chosen ? report.chosen.name : null;
  const ranged = pts.filter(c => c.meets_budget || c.pareto || c.name === base || c.name === chosen);
  const ys = (ranged.length ? ranged : pts).map(c => c.quality);
  const ylo = Math.min(...ys), yhi = Math.max(...ys), pad = (yhi - ylo) * 0.15 || 0.01;
  const xs = pts.map(c => c.energy_per_item_j * scale);
  const xlo = 0, xhi = Math.max(...xs) * 1.08;
  const lo = ylo - pad, hi = yhi + pad;
  note.textContent = "(" + (report.workload || id) + ": " + metric + " vs energy per item, " + unit + ")";
  const f = frame(svg, xlo, xhi, lo, hi, { l: 46, r: 10, t: 10, b: 20 });
  xTicks(svg, f, xlo, xhi, v => v.toPrecision(2) + " " + unit);
  const yOf = q => f.sy(Math.max(lo, Math.min(hi, q)));
  const front = pts.filter(c => c.pareto).sort((a, b) => a.energy_per_item_j - b.energy_per_item_j);
  if (front.length > 1) svg.appendChild(el("path", { d: front.map((c, i) => (i ? "L" : "M") + f.sx(c.energy_per_item_j * scale).toFixed(1) + "," + yOf(c.quality).toFixed(1)).join(""), fill: "none", stroke: "#3fb950", "stroke-width": 1.2, "stroke-dasharray": "4 3" }));
  for (const c of pts) {
    const x = f.sx(c.energy_per_item_j * scale), y = yOf(c.quality);
    const color = c.name === chosen ? "#d29922" : c.pareto ? "#3fb950" : "#6e7681";
    const below = c.quality < lo;
    const dot = below
      ? el("path", { d: `M${x - 4},${y - 6}L${x + 4},${y - 6}L${x},${y}Z`, fill: color })
      : el("circle", { cx: x, cy: y, r: c.name === chosen ? 6 : 4, fill: color });
    dot.appendChild(el("title", {}, `${c.name}: ${metric} ${c.quality.toFixed(4)}, ${(c.energy_per_item_j * scale).toPrecision(3)} ${unit}/item`));
    svg.appendChild(dot);
    if (c.name === chosen || c.name === base) {
      const label = (c.name === chosen ? "chosen: " : "baseline: ") + c.name;
      const right = x > f.W * 0.6;
      svg.appendChild(el("text", { x: right ? x - 8 : x + 8, y: y + (c.name === chosen ? -8 : 14), "text-anchor": right ? "end" : "start", fill: color }, label.slice(0, 48)));
    }
  }
}

// -- polling --------------------------------------------------------------------------------
let gridCache = null;
async function fast() {
  try {
    const [power, grid, jobs, summary] = await Promise.all([
      api("/api/v1/power?since_s=" + (Date.now() / 1000 - 130)), api("/api/v1/grid"),
      api("/api/v1/jobs?limit=200"), api("/api/v1/summary")]);
    gridCache = grid;
    drawPower(power); drawGrid(grid); drawJobs(jobs, grid); drawSummary(summary);
    const st = document.getElementById("status");
    st.textContent = "live · updated " + new Date().toLocaleTimeString(); st.className = "status live";
    state.lastOk = Date.now();
  } catch (err) {
    const st = document.getElementById("status"); st.textContent = String(err.message || err); st.className = "status error";
  }
}
async function slow() {
  try {
    drawRuns(await api("/api/v1/runs?limit=15"));
    const reports = await api("/api/v1/optimize?limit=1");
    if (reports.items.length) drawPareto(await api("/api/v1/optimize/" + encodeURIComponent(reports.items[0].id)), reports.items[0].id);
    else drawPareto(null);
  } catch (err) { /* the fast loop reports errors */ }
}

document.getElementById("token-save").addEventListener("click", () => {
  sessionStorage.setItem("wattwise-token", document.getElementById("token").value.trim());
  readToken(); document.getElementById("auth").hidden = true; fast(); slow();
});
readToken();
fast(); slow();
setInterval(fast, 1000);
setInterval(slow, 5000);
