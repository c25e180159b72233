// The operations console: a small single-page app over the console API (/dashboard/...) and the aggregator API.
// Every value from the services reaches the page as text (textContent / createTextNode via h()), never as
// markup; buttons carry their target in data- attributes read by one click handler (no inline script: CSP).
// Live: the visible view is fetched again every few seconds and only the rows whose data changed are redrawn;
// a row holding the keyboard focus or the mouse waits until it is left.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const main = document.getElementById("main");
const REFRESH_MS = 2000;

// -- building the page from data, as text -------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}
function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}
const dash = "–";
const show = v => (v === null || v === undefined || v === "" ? dash : String(v));
const badge = (text, kind) => h("span", {class: `badge ${kind || text}`}, String(text).replaceAll("_", " "));
const link = (href, text) => h("a", {href}, text);
const poLink = po => link(`#/purchase-orders/${encodeURIComponent(po)}`, po);
const button = (label, action, target, extra) =>
  h("button", {type: "button", dataset: {action, target: target ?? "", ...(extra || {})}, class: extra?.class}, label);

function duration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return dash;
  const sign = seconds < 0 ? "-" : "";
  let left = Math.abs(Math.round(seconds));
  const d = Math.floor(left / 86400); left -= d * 86400;
  const hh = Math.floor(left / 3600); left -= hh * 3600;
  const m = Math.floor(left / 60); const sec = left - m * 60;
  if (d) return `${sign}${d} d ${hh} h`;
  if (hh) return `${sign}${hh} h ${m} min`;
  if (m) return `${sign}${m} min ${sec} s`;
  return `${sign}${sec} s`;
}
const hours = value => (value === null || value === undefined ? dash : duration(Number(value) * 3600));
const since = iso => (iso ? duration((Date.now() - Date.parse(iso)) / 1000) : dash);
const when = iso => (iso ? new Date(iso).toLocaleString() : dash);
const money = v => (v === null || v === undefined ? dash : Number(v).toLocaleString(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2}));
// A countdown the clock updates every second without a fetch (data-until holds the moment).
const countdown = iso => (iso ? h("span", {class: "countdown", dataset: {until: iso}}) : dash);
function tick() {
  for (const node of document.querySelectorAll(".countdown")) {
    const left = (Date.parse(node.dataset.until) - Date.now()) / 1000;
    node.textContent = left >= 0 ? `in ${duration(left)}` : `${duration(-left)} ago`;
  }
}
setInterval(tick, 1000);

function progress(have, minimum, money_) {
  if (!Number(minimum)) return h("span", {class: "muted"}, "no minimum");
  const share = Math.min(1, Number(have) / Number(minimum));
  const fmt = money_ ? money : show;
  return h("span", {class: "progress", title: `${Math.round(share * 100)} %`},
    h("span", {class: share >= 1 ? "bar full" : "bar", role: "img", "aria-label": `${Math.round(share * 100)} percent`},
      h("span", {dataset: {share}})),
    `${fmt(have)} / ${fmt(minimum)}`);
}

// -- talking to the services ----------------------------------------------------------------------------------
async function call(method, path, body) {
  const headers = method === "GET" ? {} : {"X-CSRF-Token": csrf};
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  if (response.status === 401) { location.reload(); throw new Error("signed out"); }
  return response;
}
// Conditional GETs: the last answer of each view is kept with its ETag; an unchanged view answers 304, no body.
const lastSeen = new Map();
async function get(path) {
  const seen = lastSeen.get(path);
  const response = await fetch(path, {cache: "no-store", headers: seen ? {"If-None-Match": seen.tag} : {}});
  if (response.status === 401) { location.reload(); throw new Error("signed out"); }
  if (response.status === 304 && seen) return seen.data;
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  const data = await response.json();
  const tag = response.headers.get("ETag");
  if (tag) lastSeen.set(path, {tag, data}); else lastSeen.delete(path);
  if (lastSeen.size > 50) lastSeen.delete(lastSeen.keys().next().value);
  return data;
}
function toast(message, error) {
  const node = h("div", {class: error ? "toast error" : "toast"}, message);
  document.getElementById("toasts").append(node);
  setTimeout(() => node.remove(), error ? 9000 : 4000);
}
async function act(path, body, done) {
  const response = await call("POST", path, body);
  let answer = null;
  try { answer = await response.json(); } catch { answer = null; }
  if (!response.ok) {
    const detail = answer && (typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail ?? answer));
    toast(`Refused (${response.status}): ${detail}`, true);
  } else toast(done(answer));
}
// After an action the acting button's cell may change (Hold becomes Resume): the focus leaves it so the live
// update may redraw it, and comes back to the same place in the redrawn row for a keyboard user.
async function refreshAround(b) {
  const row = b.closest("tr[data-key]"), cell = b.closest("td");
  const where = row && cell ? {tbody: row.parentElement, key: row.dataset.key, index: [...row.children].indexOf(cell)} : null;
  const hadFocus = document.activeElement === b;
  b.blur();
  await refreshNow();
  if (!where || !hadFocus) return;
  const again = [...where.tbody.children].find(r => r.dataset.key === where.key);
  const target = again?.children[where.index]?.querySelector("button, input, a");
  if (target) target.focus();
}

// -- live updates without redrawing under the operator ----------------------------------------------------------
const busy = node => node !== document.body && node.contains(document.activeElement) && document.activeElement !== document.body;
const asCell = cell => {
  const node = cell instanceof Node && cell.tagName === "TD" ? cell : h("td", {}, cell);
  node.dataset.sig = node.innerHTML;  // what it was built from (the row's own markup, compared, never inserted)
  return node;
};
// Rows keyed by `key(item)`; only the cells whose content changed are replaced, and never the one holding the
// keyboard focus (an operator typing a note or tabbing through buttons keeps their place).
function patchRows(tbody, items, key, cells) {
  const existing = new Map([...tbody.children].map(row => [row.dataset.key, row]));
  let previous = null;
  for (const item of items) {
    const id = String(key(item));
    let row = existing.get(id);
    existing.delete(id);
    const fresh = cells(item).map(asCell);
    if (!row) {
      row = h("tr", {dataset: {key: id}}, fresh);
    } else {
      fresh.forEach((cell, i) => {
        const old = row.children[i];
        if (!old) row.append(cell);
        else if (old.dataset.sig !== cell.dataset.sig && !busy(old)) old.replaceWith(cell);
      });
    }
    const at = previous ? previous.nextSibling : tbody.firstChild;
    if (row !== at) tbody.insertBefore(row, at);
    previous = row;
  }
  for (const row of existing.values()) if (!busy(row)) row.remove();
  fillBars(tbody);
  tick();
}
// CSP forbids inline styles in markup, but the CSSOM may set them: bars get their width here.
function fillBars(root) {
  for (const node of root.querySelectorAll("[data-share]")) node.style.width = `${Math.round(Number(node.dataset.share) * 100)}%`;
}
function table(headers, id) {
  return h("table", {id}, h("thead", {}, h("tr", {}, headers.map(label =>
    h("th", {scope: "col", class: /^(Units|Value|Lines|Qty|Attempts|Days|Count)/.test(label) ? "num" : null}, label)))),
  h("tbody"));
}
const td = (content, cls) => h("td", {class: cls}, content);
function replace(node, ...children) {
  if (busy(node)) return;
  const fresh = append(document.createElement("div"), children);
  if (node.dataset.sig === fresh.innerHTML) return;  // unchanged: leave it (and any selection in it) alone
  node.dataset.sig = fresh.innerHTML;
  node.replaceChildren(...fresh.childNodes);
  fillBars(node);
  tick();
}

// -- charts: inline SVG drawn here -------------------------------------------------------------------------
const COLORS = ["#2457c5", "#1b7f3b", "#a25a00", "#b3261e", "#6b3fa0", "#00838f"];
function barChart(title, labels, series, stacked) {
  const W = 520, H = 180, left = 34, bottom = 22, top = 8;
  const totals = labels.map((_, i) => stacked ? series.reduce((sum, se) => sum + (se.values[i] || 0), 0) : Math.max(0, ...series.map(se => se.values[i] || 0)));
  const max = Math.max(1, ...totals);
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title});
  const plotH = H - bottom - top, slot = (W - left) / labels.length;
  for (const tick of [0, max / 2, max]) {
    const y = top + plotH - (tick / max) * plotH;
    svg.append(s("line", {x1: left, x2: W, y1: y, y2: y, stroke: "#e3e6ec"}));
    svg.append(s("text", {x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 10, fill: "#5d6778"}, Math.round(tick * 10) / 10));
  }
  labels.forEach((label, i) => {
    let base = 0;
    series.forEach((se, k) => {
      const v = se.values[i] || 0;
      const width = stacked ? slot * 0.6 : (slot * 0.7) / series.length;
      const x = left + i * slot + slot * (stacked ? 0.2 : 0.15) + (stacked ? 0 : k * width);
      const hgt = (v / max) * plotH;
      const y = top + plotH - hgt - (stacked ? (base / max) * plotH : 0);
      const rect = s("rect", {x, y, width: Math.max(width - 1, 1), height: hgt, fill: COLORS[k % COLORS.length]});
      rect.append(s("title", {}, `${label} ${se.name}: ${v}`));
      svg.append(rect);
      base += v;
    });
    svg.append(s("text", {x: left + i * slot + slot / 2, y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#5d6778"}, label.slice(5)));
  });
  return h("figure", {class: "chart card"}, h("figcaption", {}, h("strong", {}, title), " ",
    h("span", {class: "legend"}, series.map((se, k) => [h("i", {class: `swatch${k}`}), se.name]))), svg);
}
function lineChart(title, labels, series, format) {
  const W = 520, H = 180, left = 50, bottom = 22, top = 8;
  const all = series.flatMap(se => se.values.filter(v => v !== null && v !== undefined));
  const max = Math.max(0.0001, ...all);
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title});
  const plotH = H - bottom - top, step = (W - left - 10) / Math.max(1, labels.length - 1);
  for (const tick of [0, max / 2, max]) {
    const y = top + plotH - (tick / max) * plotH;
    svg.append(s("line", {x1: left, x2: W, y1: y, y2: y, stroke: "#e3e6ec"}));
    svg.append(s("text", {x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 10, fill: "#5d6778"}, format(tick)));
  }
  series.forEach((se, k) => {
    const points = se.values.map((v, i) => v === null || v === undefined ? null : [left + i * step, top + plotH - (v / max) * plotH]);
    const path = points.filter(Boolean).map(([x, y], i) => `${i ? "L" : "M"}${x},${y}`).join(" ");
    if (path) svg.append(s("path", {d: path, fill: "none", stroke: COLORS[k], "stroke-width": 2}));
    points.forEach((p, i) => { if (p) { const c = s("circle", {cx: p[0], cy: p[1], r: 3, fill: COLORS[k]}); c.append(s("title", {}, `${labels[i]} ${se.name}: ${format(se.values[i])}`)); svg.append(c); } });
  });
  labels.forEach((label, i) => svg.append(s("text", {x: left + i * step, y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#5d6778"}, label.slice(5))));
  if (!all.length) svg.append(s("text", {x: (left + W) / 2, y: H / 2, "text-anchor": "middle", "font-size": 13, fill: "#5d6778"}, "nothing filled in these days"));
  return h("figure", {class: "chart card"}, h("figcaption", {}, h("strong", {}, title), " ",
    h("span", {class: "legend"}, series.map((se, k) => [h("i", {class: `swatch${k}`}), se.name]))), svg);
}

// -- the views -------------------------------------------------------------------------------------------------
const views = {};

views.overview = {
  title: "Overview",
  build() {
    return [h("h2", {}, "What needs attention"), h("ul", {class: "alerts", id: "alerts"}), h("div", {class: "tiles", id: "tiles"}),
      h("h2", {}, "Today and the last 7 days"), h("div", {class: "tiles", id: "today"}), h("div", {class: "charts", id: "charts"}),
      h("h2", {}, "Backorders by supplier (last 30 days)"),
      table(["Supplier", "Backorder rate", "Open", "Open by age", "Fill time p50 / p90", "Slipped promises", "Cancelled while waiting"], "figures")];
  },
  async refresh() {
    const o = await get("/dashboard/overview");
    const alerts = o.alerts.length ? o.alerts.map(a => h("li", {class: a.severity},
      h("strong", {}, a.title), h("span", {}, a.detail), " ", link(a.link, "look"))) : [h("li", {class: "none"}, "Nothing needs attention.")];
    replace(document.getElementById("alerts"), alerts);
    const dead = Object.entries(o.dead_letters);
    const deadTotal = dead.reduce((sum, [, v]) => sum + (v || 0), 0);
    const down = (o.suppliers || []).filter(x => x.condition === "down" || x.condition === "refusing");
    const ages = o.exceptions_open_by_age || {};
    const tile = (label, value, bad, extra) => h("div", {class: bad ? "tile bad" : "tile"}, h("div", {class: "label"}, label), h("div", {class: "value"}, value), extra || "");
    replace(document.getElementById("tiles"),
      tile("Suppliers down or refusing", down.length, down.length, h("small", {}, down.map(x => x.name).join(", "))),
      tile("Open exceptions", Object.values(ages).reduce((a, b) => a + b, 0), ages["over 24 h"],
        h("small", {}, Object.entries(ages).map(([k, v]) => `${k}: ${v}`).join(" · "))),
      tile("Dead letters", deadTotal, deadTotal, h("small", {}, dead.map(([k, v]) => h("span", {class: v ? "dead" : null}, `${k}: ${show(v)} `)))),
      tile("Events waiting (lag)", Object.values(o.backlog).reduce((a, b) => a + ((b && b.queued_events) || 0), 0), false,
        h("small", {}, Object.entries(o.backlog).map(([k, v]) => `${k}: ${v ? `${v.queued_events} queued, ${show(v.outbox_pending)} outbox` : "not answering"}`).join(" · "))),
      tile("Promises slipped / due in 2 days", `${show(o.promises.slipped)} / ${show(o.promises.due_within_2_days)}`, o.promises.slipped));
    const days = o.days, today = days[days.length - 1] || {};
    replace(document.getElementById("today"),
      tile("Backorders opened today", show(today.backorders_opened)),
      tile("Filled (of today's)", show(today.backorders_filled)),
      tile("POs released today", show(today.purchase_orders_released), false,
        h("small", {}, Object.entries(today.released_by_reason || {}).map(([k, v]) => `${k.replaceAll("_", " ")}: ${v}`).join(" · "))),
      tile("Fill time p50 / p90", `${hours(today.fill_time_hours_p50)} / ${hours(today.fill_time_hours_p90)}`),
      tile("Slipped promises today", show(today.slipped_promises), today.slipped_promises));
    patchRows(document.querySelector("#figures tbody"), o.backorders_by_supplier || [], g => g.group, g => [
      link(`#/suppliers/${encodeURIComponent(g.group)}`, g.group), `${(g.backorder_rate * 100).toFixed(1)} %`, td(show(g.open_backorders), "num"),
      Object.entries(g.open_by_age).map(([k, v]) => `${k}: ${v}`).join(" · "), `${hours(g.fill_time_hours_p50)} / ${hours(g.fill_time_hours_p90)}`,
      td(show(g.slipped_promises), "num"), td(show(g.cancelled_while_waiting), "num")]);
    const labels = days.map(d => d.date);
    const reasons = [...new Set(days.flatMap(d => Object.keys(d.released_by_reason)))];
    replace(document.getElementById("charts"),
      barChart("Backorders opened and filled", labels, [{name: "opened", values: days.map(d => d.backorders_opened)}, {name: "filled", values: days.map(d => d.backorders_filled)}]),
      barChart("POs released, by reason", labels, reasons.length ? reasons.map(r => ({name: r.replaceAll("_", " "), values: days.map(d => d.released_by_reason[r] || 0)})) : [{name: "none", values: days.map(() => 0)}], true),
      lineChart("Fill time", labels, [{name: "p50", values: days.map(d => d.fill_time_hours_p50)}, {name: "p90", values: days.map(d => d.fill_time_hours_p90)}], hours),
      barChart("Slipped promises", labels, [{name: "slipped", values: days.map(d => d.slipped_promises)}]));
  },
};

function healthCells(health, gatewayAnswered) {
  if (!health) return [h("span", {class: "muted"}, gatewayAnswered ? "not registered at the gateway" : "gateway not answering")];
  return [badge(health.condition), " ", h("small", {}, `circuit ${health.circuit}`),
    health.last_error ? h("div", {class: "error"}, h("small", {}, `${health.last_error}`), health.last_error_at ? h("small", {}, ` (${since(health.last_error_at)} ago)`) : "") : "",
    health.waiting_purchase_orders ? h("div", {}, h("small", {}, `${health.waiting_purchase_orders} PO(s) waiting, oldest ${since(health.oldest_waiting_since)}`)) : "",
    health.failed_purchase_orders ? h("div", {}, h("small", {}, `${health.failed_purchase_orders} PO(s) failed`)) : ""];
}
function batchState(x) {
  const blocked = (x.blocked_by || []).filter(b => b !== "empty" && b !== "held");
  return [x.held ? badge("held") : "", " ", x.escalated ? badge("escalated") : "", x.minimum_met ? badge("minimum met", "ok") : "",
    blocked.length ? h("div", {}, h("small", {}, `waiting for ${blocked.map(b => b.replaceAll("_", " ")).join(", ")}`)) : "",
    x.pending_lines ? "" : h("span", {class: "muted"}, "empty")];
}
function supplierActions(x) {
  return [button("Release now", "release", x.supplier_id, {class: "primary"}),
    x.held ? button("Resume", "resume", x.supplier_id) : button("Hold", "hold", x.supplier_id),
    x.health && x.health.waiting_purchase_orders ? button("Send waiting POs now", "send-now", x.supplier_id) : ""];
}

views.suppliers = {
  title: "Suppliers",
  build() {
    return [h("h2", {}, "Suppliers"), table(["Supplier", "Lines", "Units / minimum", "Value / minimum", "Oldest line", "Deadline", "Expected release", "Batch", "Health", "Actions"], "suppliers")];
  },
  async refresh() {
    const list = await get("/dashboard/suppliers");
    patchRows(document.querySelector("#suppliers tbody"), list, x => x.supplier_id, x => [
      [link(`#/suppliers/${encodeURIComponent(x.supplier_id)}`, x.name), h("div", {}, h("small", {}, `${x.supplier_id} · policy v${x.policy_version}`))],
      td(show(x.pending_lines), "num"), progress(x.releasable_units ?? x.pending_units, x.min_units),
      progress(x.releasable_value ?? x.pending_value, x.min_value, true),
      x.oldest_received_at ? since(x.oldest_received_at) : dash, countdown(x.deadline), countdown(x.expected_release_at),
      batchState(x), healthCells(x.health, x.gateway_answered), supplierActions(x)]);
  },
};

views.supplier = {
  title: "Supplier",
  build(id) {
    return [h("p", {}, link("#/suppliers", "← Suppliers")), h("h2", {id: "supplier-name"}, id), h("div", {class: "grid", id: "supplier-facts"}),
      h("h3", {}, "Against every minimum"), table(["Minimum", "Have", "Needed", "Progress"], "minimums"),
      h("h3", {}, "Lines waiting in the batch"), table(["Line", "SKU", "Qty", "Unit cost", "Waiting"], "lines"),
      h("h3", {}, "Latest purchase orders"), table(["PO", "Released", "Reason", "Units", "Value"], "supplier-pos"),
      h("h3", {}, "Policy versions"), table(["Version", "Changed", "What changed", "Policy"], "versions")];
  },
  async refresh(id) {
    const x = await get(`/dashboard/suppliers/${encodeURIComponent(id)}`);
    replace(document.getElementById("supplier-name"), x.name, " ", h("small", {}, x.supplier_id));
    replace(document.getElementById("supplier-facts"),
      h("div", {class: "card"}, h("dl", {class: "facts"}, h("dt", {}, "Lines waiting"), h("dd", {}, show(x.pending_lines)),
        h("dt", {}, "Oldest line"), h("dd", {}, x.oldest_received_at ? since(x.oldest_received_at) : dash),
        h("dt", {}, "Deadline"), h("dd", {}, countdown(x.deadline)), h("dt", {}, "Expected release"), h("dd", {}, countdown(x.expected_release_at)),
        h("dt", {}, "Batch"), h("dd", {}, batchState(x)))),
      h("div", {class: "card"}, healthCells(x.health, x.gateway_answered)), h("div", {class: "card"}, supplierActions(x)));
    const policy = (x.policy_versions[0] || {}).policy || {};
    const bySku = {};
    for (const line of x.lines) bySku[line.supplier_sku] = (bySku[line.supplier_sku] || 0) + line.quantity;  // rules are by supplier SKU
    const minimums = [
      {key: "units", label: "Units (batch total, releasable)", have: x.releasable_units ?? x.pending_units, need: x.min_units},
      {key: "value", label: "Value (batch total, at tier prices)", have: x.releasable_value ?? x.pending_value, need: x.min_value, money: true},
      ...Object.entries(policy.sku_rules || {}).flatMap(([sku, rule]) => [
        rule.min_qty ? {key: `sku-${sku}`, label: `Supplier SKU ${sku} minimum`, have: bySku[sku] || 0, need: rule.min_qty} : null,
        rule.case_pack > 1 ? {key: `case-${sku}`, label: `Supplier SKU ${sku} case pack of ${rule.case_pack}`, have: (bySku[sku] || 0) % rule.case_pack, need: rule.case_pack, note: `${Math.floor((bySku[sku] || 0) / rule.case_pack)} full case(s); ${rule.remainder === "round_up" ? "rounds up" : "waits for a full case"}`} : null,
      ]).filter(Boolean),
    ];
    patchRows(document.querySelector("#minimums tbody"), minimums, m => m.key, m => [m.label,
      td(m.money ? money(m.have) : show(m.have), "num"), Number(m.need) ? (m.money ? money(m.need) : show(m.need)) : h("span", {class: "muted"}, "no minimum"),
      [progress(m.have, m.need, m.money), m.note ? h("div", {}, h("small", {}, m.note)) : ""]]);
    patchRows(document.querySelector("#lines tbody"), x.lines, l => l.backorder_line_id, l => [l.backorder_line_id, l.sku, td(show(l.quantity), "num"), money(l.unit_cost), since(l.received_at)]);
    patchRows(document.querySelector("#supplier-pos tbody"), x.recent_purchase_orders, p => p.po_number, p => [poLink(p.po_number), when(p.created_at), releaseReason(p), td(show(p.total_units), "num"), td(money(p.total_value), "num")]);
    const versions = x.policy_versions;  // newest first
    patchRows(document.querySelector("#versions tbody"), versions, v => v.version, v => {
      const before = (versions.find(o => o.version === v.version - 1) || {}).policy;
      return [`v${v.version}`, when(v.changed_at), policyChanges(before, v.policy), h("details", {}, h("summary", {}, "whole policy"), h("pre", {}, JSON.stringify(v.policy, null, 1)))];
    });
  },
};
// What a policy version changed from the one before, key by key ("first version" for the first).
function policyChanges(before, after) {
  if (!before) return h("span", {class: "muted"}, "first version");
  const text = v => (v === null || v === undefined ? "none" : typeof v === "object" ? JSON.stringify(v) : String(v));
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(k => text(before[k]) !== text(after[k]));
  return keys.length ? h("ul", {}, keys.map(k => h("li", {}, `${k.replaceAll("_", " ")}: ${text(before[k])} → ${text(after[k])}`))) : h("span", {class: "muted"}, "no change");
}
const releaseReason = p => [show(p.release_reason).replaceAll("_", " "), p.below_minimum ? h("small", {}, " (below minimum)") : ""];

const PO_STATES = ["released", "requested", "sent", "acknowledged", "partially_shipped", "shipped", "closed", "cancelled", "failed"];
views["purchase-orders"] = {
  title: "Purchase orders",
  build(_, params) {
    const form = h("form", {class: "filters", id: "po-filters", role: "search"},
      h("label", {}, "Search PO, customer email, order or SKU", h("input", {name: "q", type: "search", value: params.get("q") || "", size: 32})),
      h("label", {}, "State", h("select", {name: "state"}, h("option", {value: ""}, "any"), PO_STATES.filter(x => x !== "released").map(x => h("option", {value: x, selected: params.get("state") === x}, x.replaceAll("_", " "))))),
      h("label", {}, "Supplier", h("select", {name: "supplier_id", id: "po-supplier"}, h("option", {value: ""}, "any"),
        params.get("supplier_id") ? h("option", {value: params.get("supplier_id"), selected: true}, params.get("supplier_id")) : "")),
      h("button", {type: "submit", class: "primary"}, "Search"));
    return [h("h2", {}, "Purchase orders"), form, table(["PO", "Supplier", "State", "Released", "Reason", "Units", "Value", "Attempts", "Actions"], "pos"),
      h("div", {class: "pager", id: "pager"})];
  },
  async refresh(_, params) {
    const query = new URLSearchParams(params);
    const page = Number(params.get("page") || 1);
    const answer = await get(`/dashboard/purchase-orders?${query}`);
    const choice = document.getElementById("po-supplier");
    if (choice && !choice.dataset.filled) {
      choice.dataset.filled = "yes";
      const chosen = params.get("supplier_id");
      for (const x of await get("/dashboard/suppliers")) {
        if (x.supplier_id !== chosen) choice.append(h("option", {value: x.supplier_id}, `${x.name} (${x.supplier_id})`));
      }
    }
    patchRows(document.querySelector("#pos tbody"), answer.items, p => p.po_number, p => [poLink(p.po_number), p.supplier_id, [badge(p.state), p.failure_reason ? h("div", {}, h("small", {}, p.failure_reason)) : ""],
      when(p.created_at), releaseReason(p), td(show(p.total_units), "num"), td(money(p.total_value), "num"), td(show(p.send_attempts), "num"), poActions(p)]);
    const to = n => { const q = new URLSearchParams(params); q.set("page", n); return `#/purchase-orders?${q}`; };
    replace(document.getElementById("pager"), page > 1 ? link(to(page - 1), "← Newer") : "", h("span", {}, `Page ${page}`),
      answer.has_more ? link(to(page + 1), "Older →") : "", answer.items.length ? "" : h("span", {class: "muted"}, "No purchase orders match."));
  },
};
function poActions(p) {
  const waiting = p.state === "requested";
  return [p.state === "failed" ? button("Retry", "retry", p.po_number) : "", waiting ? button("Send now", "retry", p.po_number) : "",
    waiting ? button("Cancel…", "cancel", p.po_number, {class: "danger"}) : "", waiting ? button("Fail…", "fail", p.po_number, {class: "danger"}) : ""];
}

views.po = {
  title: "Purchase order",
  build(id) {
    return [h("p", {}, link("#/purchase-orders", "← Purchase orders")), h("h2", {}, `Purchase order ${id}`), h("div", {class: "grid", id: "po-facts"}),
      h("h3", {}, "Lines and the customer lines they serve"), table(["Line", "SKU", "Qty", "Unit cost", "At the supplier", "Customer line", "Customer", "Customer line status", "Shipments"], "po-lines"),
      h("h3", {}, "History"), table(["When", "State", "Note"], "po-history"),
      h("h3", {}, "Exceptions"), table(["Opened", "Kind", "Detail", "Resolved"], "po-exceptions"),
      h("h3", {}, "Documents exchanged"), h("div", {id: "po-documents"})];
  },
  async refresh(id) {
    const po = await get(`/dashboard/purchase-orders/${encodeURIComponent(id)}`);
    const g = po.gateway || {};
    replace(document.getElementById("po-facts"),
      h("div", {class: "card"}, h("dl", {class: "facts"}, h("dt", {}, "Supplier"), h("dd", {}, link(`#/suppliers/${encodeURIComponent(po.supplier_id)}`, po.supplier_id)),
        h("dt", {}, "State"), h("dd", {}, badge(g.state || "released")), h("dt", {}, "Released"), h("dd", {}, when(po.created_at)),
        h("dt", {}, "Reason"), h("dd", {}, releaseReason(po)), h("dt", {}, "Units / value"), h("dd", {}, `${po.total_units} / ${money(po.total_value)}`))),
      h("div", {class: "card"}, h("dl", {class: "facts"}, h("dt", {}, "Supplier's order"), h("dd", {}, show(g.supplier_order_id)),
        h("dt", {}, "Acknowledgement"), h("dd", {}, show(g.acknowledgement)), h("dt", {}, "Sending attempts"), h("dd", {}, show(g.dispatch?.send_attempts)),
        h("dt", {}, "Next attempt"), h("dd", {}, g.dispatch?.next_attempt_at ? countdown(g.dispatch.next_attempt_at) : dash),
        h("dt", {}, "Last error"), h("dd", {}, show(g.dispatch?.last_error || g.failure_reason)), h("dt", {}, "Shipments"), h("dd", {}, show((g.shipment_ids || []).join(", "))))),
      poActions({po_number: po.po_number, state: g.state || "released"}).some(Boolean) ? h("div", {class: "card"}, poActions({po_number: po.po_number, state: g.state || "released"})) : "");
    const atSupplier = Object.fromEntries((g.lines || []).map(l => [l.line_no, l]));
    const customers = Object.fromEntries((po.customer_lines || []).map(l => [`${l.order_id}-${l.line_no}`, l]));
    patchRows(document.querySelector("#po-lines tbody"), po.lines, l => l.line_no, l => {
      const s_ = atSupplier[l.line_no] || {}, c = customers[l.backorder_line_id] || {};
      return [td(show(l.line_no), "num"), l.sku, td(show(l.quantity), "num"), td(money(l.unit_cost), "num"),
        [s_.status ? badge(s_.status) : dash, s_.shipped_qty ? h("small", {}, ` ${s_.shipped_qty} shipped`) : "", s_.reason ? h("div", {}, h("small", {}, s_.reason)) : ""],
        l.surplus ? h("span", {class: "muted"}, "surplus for the warehouse") : show(l.backorder_line_id), show(c.customer_email), c.status ? badge(c.status) : dash,
        (c.shipments || []).length ? h("ul", {}, c.shipments.map(x => h("li", {}, `${x.quantity} shipped by ${x.carrier}, tracking ${x.tracking_number}`, h("small", {}, ` ${when(x.shipped_at)}`)))) : dash];
    });
    patchRows(document.querySelector("#po-history tbody"), g.history || [], x => `${x.at}-${x.state}`, x => [when(x.at), badge(x.state), show(x.note)]);
    patchRows(document.querySelector("#po-exceptions tbody"), po.exceptions || [], e => e.exception_id, e => [when(e.opened_at), badge(e.kind, "open"), e.detail, e.resolved_at ? `${when(e.resolved_at)}: ${e.resolution_note}` : badge("open")]);
    const docs = document.getElementById("po-documents");
    if (!busy(docs)) {
      const items = [...(po.documents || []).map(d => h("details", {class: "card"}, h("summary", {}, `${d.direction} ${d.kind} #${d.control_number} · ${d.status}`), h("pre", {}, d.body), d.reply ? [h("div", {}, "Answer (997)"), h("pre", {}, d.reply)] : "")),
        ...(g.history ? [h("details", {class: "card"}, h("summary", {}, "The purchase order as the gateway holds it (JSON)"), h("pre", {}, JSON.stringify(g, null, 1)))] : [])];
      const signature = JSON.stringify([po.documents, g]);
      if (docs.dataset.signature !== signature) { docs.replaceChildren(...items); docs.dataset.signature = signature; }
    }
  },
};

const EXCEPTION_KINDS = ["purchase_order_refused", "supplier_unreachable", "supplier_not_registered", "failed_by_operator",
  "cancel_refused", "cancel_unanswered", "shipped_after_cancel", "over_shipment", "unknown_line", "unknown_purchase_order",
  "message_not_applied", "late_shipment", "dead_letter"];
// What each kind allows besides resolving with a note (a refused or given-up PO is failed already: retry or leave it).
const EXCEPTION_ACTIONS = {purchase_order_refused: ["retry"], supplier_unreachable: ["retry"], supplier_not_registered: ["retry"]};
views.exceptions = {
  title: "Exceptions",
  build(_, params) {
    return [h("h2", {}, "Exceptions inbox"),
      h("form", {class: "filters", id: "exception-filters"}, h("label", {}, "Show", h("select", {name: "open"}, h("option", {value: "true", selected: params.get("open") !== "false"}, "open"), h("option", {value: "false", selected: params.get("open") === "false"}, "all"))),
        h("label", {}, "Kind", h("select", {name: "kind"}, h("option", {value: ""}, "any"),
          EXCEPTION_KINDS.map(k => h("option", {value: k, selected: params.get("kind") === k}, k.replaceAll("_", " "))))),
        h("label", {}, "Supplier", h("input", {name: "supplier_id", value: params.get("supplier_id") || "", size: 12})), h("button", {type: "submit"}, "Filter")),
      table(["Opened", "Kind", "Supplier", "PO", "Order", "Detail", "State", "Actions"], "exceptions")];
  },
  async refresh(_, params) {
    const q = new URLSearchParams({open: params.get("open") || "true"});
    if (params.get("supplier_id")) q.set("supplier_id", params.get("supplier_id"));
    if (params.get("kind")) q.set("kind", params.get("kind"));
    const list = await get(`/dashboard/exceptions?${q}`);
    patchRows(document.querySelector("#exceptions tbody"), list, e => e.exception_id, e => [
      [when(e.opened_at), h("div", {}, h("small", {}, `${since(e.opened_at)} ago`))], badge(e.kind, e.resolved_at ? "closed" : "open"), e.supplier_id,
      e.po_number ? poLink(e.po_number) : dash, show(e.order_id), [e.detail, e.received ? h("details", {}, h("summary", {}, "what the supplier sent"), h("pre", {}, e.received)) : ""],
      e.resolved_at ? [badge("resolved", "closed"), h("div", {}, h("small", {}, `by ${show(e.resolved_by)}, ${when(e.resolved_at)}`)), h("div", {}, h("small", {}, e.resolution_note))] : badge("open"),
      e.resolved_at ? "" : [
        ...(EXCEPTION_ACTIONS[e.kind] || []).filter(() => e.po_number).map(() => button("Retry PO", "retry", e.po_number)),
        e.kind === "dead_letter" ? link("#/dead-letters", "Replay it from Dead letters") : "",
        h("label", {class: "muted"}, h("span", {class: "skip"}, "Note"), h("input", {name: "note", placeholder: "what was decided", size: 18, dataset: {note: e.exception_id}})),
        button("Resolve", "resolve", e.exception_id, {class: "primary"})]]);
  },
};

const HORIZONS = ["2", "7", "14", "30"];
views.customers = {
  title: "Customers at risk",
  build(_, params) {
    const within = HORIZONS.includes(params.get("within_days")) ? params.get("within_days") : "2";
    return [h("h2", {}, "Customers at risk"),
      h("form", {class: "filters", id: "risk-filters"}, h("label", {}, "Promised date past or within",
        h("select", {name: "within_days"}, HORIZONS.map(d => h("option", {value: d, selected: d === within}, `${d} days`)))),
        h("button", {type: "submit"}, "Show")),
      h("p", {class: "muted"}, "Lines still waiting for their goods, the most late first, with what each waits for."),
      table(["Order", "Customer", "SKU", "Qty", "Status", "Waiting for", "PO", "Promised", "Days", "Messages sent"], "at-risk")];
  },
  async refresh(_, params) {
    const within = HORIZONS.includes(params.get("within_days")) ? params.get("within_days") : "2";
    const list = await get(`/dashboard/customers-at-risk?within_days=${within}`);
    patchRows(document.querySelector("#at-risk tbody"), list, l => `${l.order_id}-${l.line_no}`, l => [`${l.order_id} / ${l.line_no}`, l.customer_email, l.sku,
      td(show(l.backordered_qty), "num"), badge(l.status), [l.reason, l.supplier_id ? h("div", {}, h("small", {}, link(`#/suppliers/${encodeURIComponent(l.supplier_id)}`, l.supplier_id))) : ""],
      l.po_number ? poLink(l.po_number) : dash,
      show(l.promised_date), td(l.days_to_promise < 0 ? badge(`${-l.days_to_promise} d late`, "late") : badge(`${l.days_to_promise} d left`, "soon"), "num"),
      l.messages.length ? h("ul", {}, l.messages.map(m => h("li", {}, `${m.kind.replaceAll("_", " ")} (${m.channel}) ${m.sent_at ? when(m.sent_at) : "not sent yet"}`))) : h("span", {class: "muted"}, "none")]);
  },
};

// Lines refused by their supplier while orders runs REROUTE=operator: why each waits, the offers of its latest
// routing decision with their dates and costs then, and the operator's choices (orders records each, by name).
views.rerouting = {
  title: "Re-routing",
  build() {
    return [h("h2", {}, "Lines waiting for an operator"),
      h("p", {class: "muted"}, "Refused by their supplier: send each to another offer, or reject it (the customer is told the reason and the money is released)."),
      table(["Order", "Customer", "SKU", "Units", "Refused by", "Why", "Promised", "Offers (when routed)", "Actions"], "awaiting")];
  },
  async refresh() {
    const list = await get("/dashboard/lines-awaiting-operator");
    patchRows(document.querySelector("#awaiting tbody"), list, l => `${l.order_id}-${l.line_no}`, l => {
      const on = {order: l.order_id, line: String(l.line_no)};
      const offer = o => h("li", {}, h("strong", {}, o.supplier_id), ` ${money(o.line_cost)} (${money(o.unit_cost)} a unit), ${o.lead_time_days} d lead time, delivery ${show(o.expected_delivery)}`,
        o.refused ? [" ", badge("refused", "late")] : o.tried ? [" ", badge("tried", "closed")] : "", o.outcome && o.outcome !== "chosen" ? h("small", {class: "muted"}, ` ${o.outcome.replaceAll("_", " ")}`) : "");
      const elsewhere = l.offers.filter(o => !o.refused && o.outcome !== "inactive");
      return [`${l.order_id} / ${l.line_no}`, [show(l.customer_email), h("div", {}, h("small", {}, `placed ${when(l.placed_at)}`))], l.sku,
        td(show(l.open_qty), "num"), show(l.refused_by), show(l.why), show(l.promised_date),
        l.offers.length ? h("ul", {class: "offers"}, l.offers.map(offer)) : h("span", {class: "muted"}, "no decision recorded"),
        [l.untried_left ? button("Re-route to next offer", "reroute", l.order_id, {...on, class: "primary"}) : "",
          elsewhere.map(o => button(`Re-route to ${o.supplier_id}`, "reroute", l.order_id, {...on, supplier: o.supplier_id})),
          h("label", {class: "muted"}, h("span", {class: "skip"}, "Reason for the customer"),
            h("input", {name: "reason", placeholder: "reason told to the customer", size: 18, dataset: {reason: `${l.order_id}/${l.line_no}`}})),
          button("Reject", "reject", l.order_id, on)]];
    });
  },
};

views["dead-letters"] = {
  title: "Dead letters",
  build() { return [h("h2", {}, "Dead letters"), h("div", {id: "dead-letters"})]; },
  async refresh() {
    const all = await get("/dashboard/dead-letters");
    const holder = document.getElementById("dead-letters");
    for (const [service, found] of Object.entries(all)) {
      let section = holder.querySelector(`section[data-service="${CSS.escape(service)}"]`);
      if (!section) {
        section = h("section", {class: "card", dataset: {service}}, h("h3", {}), h("p", {class: "actions"}), table(["Event", "Reason", "Message"], `dead-${service}`));
        holder.append(section);
      }
      const count = found ? found.messages.length : null;
      replace(section.querySelector("h3"), service, " ", found ? h("span", {class: count ? "dead" : "muted"}, `${count}${count >= 100 ? "+" : ""} dead letter(s)`) : h("span", {class: "dead"}, "not answering"));
      replace(section.querySelector(".actions"), count ? button(`Replay ${service}'s dead letters`, "replay", service) : "");
      patchRows(section.querySelector("tbody"), found ? found.messages : [], m => m.message_id || m.body, m => [show(m.routing_key), h("span", {class: "dead"}, m.error), h("details", {}, h("summary", {}, show(m.message_id)), h("pre", {}, m.body))]);
    }
  },
};

views.activity = {
  title: "Activity",
  build() { return [h("h2", {}, "Who did what"), table(["When", "Who", "Service", "Action", "Target", "Details"], "activity")]; },
  async refresh() {
    const list = await get("/dashboard/activity");
    patchRows(document.querySelector("#activity tbody"), list, a => `${a.service}-${a.occurred_at}-${a.action}-${a.target}`, a => [when(a.occurred_at),
      [a.who, a.who !== a.subject ? h("div", {}, h("small", {}, `via ${a.subject}`)) : ""], a.service, a.action, a.target,
      h("small", {}, Object.entries(a.details).filter(([k]) => k !== "on_behalf_of").map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("; "))]);
  },
};

// -- routing, refreshing, acting ---------------------------------------------------------------------------------
let current = null;
let timer = null;
function route() {
  const [path, search] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "suppliers" && parts[1]) return {name: "supplier", id: parts[1], params};
  if (parts[0] === "purchase-orders" && parts[1]) return {name: "po", id: parts[1], params};
  return {name: views[parts[0]] ? parts[0] : "overview", id: null, params};
}
async function refreshNow() {
  if (!current) return;
  const view = current;
  try {
    await views[view.name].refresh(view.id, view.params);
    if (view === current) document.getElementById("live").textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (view === current) document.getElementById("live").textContent = `Not updated: ${error.message}`;
  }
}
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => { if (!document.hidden) await refreshNow(); schedule(); }, REFRESH_MS);
}
function show_() {
  current = route();
  const view = views[current.name];
  document.title = `${view.title} · Drop-ship operations`;
  for (const a of document.querySelectorAll("nav a")) {
    const active = a.dataset.view === current.name || (a.dataset.view === "suppliers" && current.name === "supplier") || (a.dataset.view === "purchase-orders" && current.name === "po");
    if (active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  append(main, view.build(current.id, current.params));
  document.getElementById("live").textContent = "Loading…";
  refreshNow();
  schedule();
}
window.addEventListener("hashchange", () => { show_(); main.focus(); });
document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshNow(); });

document.addEventListener("submit", event => {
  const form = event.target;
  const routes = {"po-filters": "#/purchase-orders", "exception-filters": "#/exceptions", "risk-filters": "#/customers"};
  if (!routes[form.id]) return;
  event.preventDefault();
  const q = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (String(value).trim()) q.set(key, String(value).trim());
  location.hash = `${routes[form.id]}?${q}`;
});

document.addEventListener("click", async event => {
  const b = event.target.closest("button[data-action]");
  if (!b) return;
  const {action, target} = b.dataset;
  const id = encodeURIComponent(target);
  const focused = document.activeElement === b;
  b.disabled = true;
  try {
    if (action === "sign-out") { await call("POST", "/dashboard/sign-out"); location.reload(); }
    else if (action === "release") await act(`/suppliers/${id}/release`, undefined, a => `Released ${target}: ${(a.purchase_orders || []).join(", ") || "nothing was waiting"}`);
    else if (action === "hold" || action === "resume") await act(`/suppliers/${id}/${action}`, undefined, () => `${target}: ${action === "hold" ? "held" : "resumed"}`);
    else if (action === "send-now") await act(`/dashboard/suppliers/${id}/send-now`, undefined, a => `Sending ${a.waiting_purchase_orders} waiting PO(s) to ${target} now`);
    else if (action === "retry") await act(`/dashboard/purchase-orders/${id}/retry`, undefined, a => `${target}: ${a.state}, sent again`);
    else if (action === "fail" || action === "cancel") {
      const reason = prompt(`Why ${action === "fail" ? "give up on" : "cancel"} ${target}? (the customers are told)`);
      if (reason) await act(`/dashboard/purchase-orders/${id}/${action}`, {reason}, a => `${target}: ${a.state}`);
    } else if (action === "resolve") {
      const input = document.querySelector(`input[data-note="${CSS.escape(target)}"]`);
      const note = input && input.value.trim();
      if (!note) { toast("Write a note saying what was decided first.", true); if (input) input.focus(); }
      else await act(`/dashboard/exceptions/${id}/resolve`, {note}, () => "Exception resolved");
    } else if (action === "reroute") {
      const {order, line, supplier} = b.dataset;
      const path = `/dashboard/order-lines/${encodeURIComponent(order)}/${encodeURIComponent(line)}/reroute`;
      await act(path, supplier ? {supplier_id: supplier} : {}, a => `${order} / ${line}: sent to ${a.supplier_id}, promised ${show(a.promised_date)}`);
    } else if (action === "reject") {
      const {order, line} = b.dataset;
      const input = document.querySelector(`input[data-reason="${CSS.escape(`${order}/${line}`)}"]`);
      const reason = input && input.value.trim();
      if (!reason) { toast("Write the reason the customer will be told first.", true); if (input) input.focus(); }
      else await act(`/dashboard/order-lines/${encodeURIComponent(order)}/${encodeURIComponent(line)}/reject`, {reason}, () => `${order} / ${line}: rejected`);
    } else if (action === "replay") await act(`/dashboard/dead-letters/${id}/replay`, undefined, a => `Replayed ${a.replayed} message(s) of ${target}`);
  } finally {
    b.disabled = false;
    if (focused) b.focus();  // disabling it took the focus away
  }
  if (action !== "sign-out") await refreshAround(b);
});
show_();
