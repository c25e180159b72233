// The operations dashboard. Every value from the services goes through esc() before it reaches the page, and
// buttons carry their target in data- attributes read by one click handler (no inline script: see the CSP).
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const num = n => esc(n ?? "–");
const bar = f => `<meter min="0" max="1" value="${Number(f) || 0}"></meter>`;
const when = t => t ? esc(new Date(t).toLocaleString()) : "–";
const age = s => s == null ? "–" : s < 3600 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
const button = (label, action, target) => `<button data-action="${esc(action)}" data-target="${esc(target)}">${esc(label)}</button>`;

async function call(method, path) {
  const r = await fetch(path, {method, headers: method === "GET" ? {} : {"X-CSRF-Token": csrf}});
  if (r.status === 401) { location.reload(); throw new Error("signed out"); }
  return r;
}
async function change(path) {
  const r = await call("POST", path);
  if (!r.ok) alert(JSON.stringify((await r.json()).detail));
  refresh();
}
document.addEventListener("click", async event => {
  const b = event.target.closest("button[data-action]");
  if (!b) return;
  const {action, target} = b.dataset;
  if (action === "sign-out") { await call("POST", "/dashboard/sign-out"); location.reload(); }
  else if (action === "retry") change(`/dashboard/purchase-orders/${encodeURIComponent(target)}/retry`);
  else change(`/suppliers/${encodeURIComponent(target)}/${encodeURIComponent(action)}`);
});
async function refreshOverview() {
  const o = await (await call("GET", "/dashboard/overview")).json();
  const dead = Object.entries(o.dead_letters).map(([k, v]) => `${esc(k)}: ${num(v)}`).join(" · ");
  document.querySelector("#attention").innerHTML =
    `Dead letters ${dead} · POs waiting to reach their supplier: ${num(o.purchase_orders_waiting_for_supplier)}` +
    (o.unreachable.length ? ` · <span class="escalated">not answering: ${o.unreachable.map(esc).join(", ")}</span>` : "");
  document.querySelector("#failed tbody").innerHTML = o.failed_purchase_orders.map(p => `<tr>
    <td>${esc(p.po_number)}</td><td>${esc(p.supplier_id)}</td><td>${esc(p.failure_reason ?? "")}</td>
    <td>${when(p.created_at)}</td><td>${button("Retry", "retry", p.po_number)}</td></tr>`).join("");
  document.querySelector("#figures tbody").innerHTML = (o.backorders_by_supplier || []).map(g => `<tr>
    <td>${esc(g.group)}</td><td>${esc((g.backorder_rate * 100).toFixed(1))} %</td><td>${num(g.open_backorders)}</td>
    <td>${Object.entries(g.open_by_age).map(([k, v]) => `${esc(k)}: ${num(v)}`).join(", ")}</td>
    <td>${num(g.fill_time_hours_p50)} h / ${num(g.fill_time_hours_p90)} h</td>
    <td>${num(g.slipped_promises)}</td><td>${num(g.cancelled_while_waiting)}</td></tr>`).join("");
}
async function refresh() {
  refreshOverview();
  const suppliers = await (await call("GET", "/suppliers")).json();
  document.querySelector("#suppliers tbody").innerHTML = suppliers.map(s => `<tr>
    <td>${esc(s.name)}<br><small>${esc(s.supplier_id)} · policy v${num(s.policy_version)}</small></td>
    <td>${num(s.pending_lines)}</td>
    <td>${bar(s.units_progress)} ${num(s.pending_units)} / ${num(s.min_units)}</td>
    <td>${bar(s.value_progress)} ${num(s.pending_value)} / ${num(s.min_value)}</td>
    <td>${age(s.oldest_age_seconds)}</td><td>${when(s.deadline)}</td><td>${when(s.expected_release_at)}</td>
    <td>${s.escalated ? '<span class="escalated">escalated</span>' : ""} ${s.held ? '<span class="held">held</span>' : ""}</td>
    <td>${button("Release now", "release", s.supplier_id)}
        ${s.held ? button("Resume", "resume", s.supplier_id) : button("Hold", "hold", s.supplier_id)}</td>
  </tr>`).join("");
  const pos = await (await call("GET", "/purchase-orders?limit=25")).json();
  document.querySelector("#pos tbody").innerHTML = pos.map(p => `<tr>
    <td>${esc(p.po_number)}</td><td>${esc(p.supplier_id)}</td><td>${when(p.created_at)}</td>
    <td>${esc(p.release_reason)}${p.below_minimum ? " (below minimum)" : ""}</td>
    <td>${num(p.total_units)}</td><td>${num(p.total_value)}</td></tr>`).join("");
}
refresh();
setInterval(refresh, 3000);
