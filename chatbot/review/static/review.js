// The review page: polls the JSON API and renders the anomaly cards.
// Everything that comes from an event is put into the DOM with textContent, never as markup.
"use strict";

const POLL_MS = 1500;
const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const CSRF_HEADER = meta("csrf-header");
const CSRF_TOKEN = meta("csrf-token");
const USER = meta("review-user");
const USERS = meta("review-users").split(",").filter(Boolean);
const READ_ONLY = meta("read-only") === "true";

const view = {
  tab: "all", actions: [], cards: new Map(), confirming: new Set(), busy: new Set(),
  openFiles: new Set(), noticeTimer: 0, as: USER, drafts: new Map(), fieldErrors: new Map(),
};
// The list is filtered and paged by the server (?namespace=&severity=&state=&offset=&limit=).
const PAGE_SIZE = 50;
const TAB_STATES = { all: "", open: "open", decided: "decided", audit: "" };
const listing = { namespace: "", severity: "", offset: 0, matching: 0 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const people = (text) => (text || "").replace(/<@([A-Z0-9]+)>/g, "@$1");
const stateLabel = (state) => state.replace("_", " ");

function facts(card) {
  const list = el("dl", { class: "facts" });
  const labels = Object.entries(card.labels || {}).map(([k, v]) => `${k}=${v}`).join(" ");
  const rows = [...card.facts, ["Severity", card.severity],
    ["Seen", `${card.count}× (first ${when(card.first_seen)}, last ${when(card.last_seen)})`]];
  if (card.service_account) rows.push(["ServiceAccount", card.service_account]);
  if (labels) rows.push(["Client labels", labels]);
  for (const [label, value] of rows) list.append(el("dt", {}, label), el("dd", {}, value));
  return list;
}

// What Approve really opens for the configured output, and why the rules call it risky.
function grant(card) {
  const risky = card.risk && card.risk.risky && card.open;
  const needs = [];
  if (risky && card.risk.justification) needs.push("a justification");
  if (risky && card.approvals_required > 1) needs.push(`${card.approvals_required} distinct approvers`);
  return el("div", { class: "grant" },
    risky ? el("p", { class: "risk" }, `Risky: ${card.risk.reasons.join("; ")}`,
      needs.length ? ` · Approve needs ${needs.join(" and ")}` : "") : null,
    el("p", { class: "lead" }, card.open ? "What Approve opens" : "What the approval opens"),
    el("ul", {}, ...(card.grant || []).map((line) => el("li", {}, line))));
}

function context(card) {
  const parts = [];
  if (card.related && card.related.length) {
    parts.push(el("p", { class: "lead" }, `Also open for ${card.client.name} (${card.related.length})`),
      el("ul", {}, ...card.related.slice(0, 5).map((r) =>
        el("li", { "data-related": r.id }, `${r.severity} ${r.label} `, el("code", {}, r.short_id)))));
  }
  if (card.current_targets) {
    parts.push(el("p", { class: "lead" }, "Its intents now"),
      card.current_targets.length
        ? el("ul", {}, ...card.current_targets.map((t) => el("li", {}, t))) : el("p", {}, "none"));
  }
  return parts.length ? el("div", { class: "context" }, ...parts) : null;
}

function intent(card) {
  const lead = card.open ? "Approve adds to the ClientIntents of " : "ClientIntents change for ";
  return el("div", { class: "intent" },
    el("p", {}, lead, el("code", {}, card.client.name), " in ",
      el("code", {}, card.client.namespace), ":"),
    el("pre", {}, card.intent_yaml));
}

function outcome(card) {
  const lines = [];
  const who = card.decided_by ? `@${card.decided_by}` : "someone";
  if (card.escalated_at) {
    const reason = card.escalated_by ? `escalated by @${card.escalated_by}` : card.escalation_reason;
    const why = reason ? `: ${people(reason)}` : "";
    lines.push(["escalated", `Escalated ${when(card.escalated_at)}${why}`]);
  }
  if (["approved", "applied", "apply_failed", "proposed"].includes(card.state)) {
    lines.push(["approved", `Approved by ${who} ${when(card.decided_at)}`]);
  }
  if (card.state === "approved") lines.push(["waiting", "Writing the ClientIntents…"]);
  if (card.state === "applied" && card.applied_object) {
    lines.push(["applied", `ClientIntents written: ${card.applied_object}`]);
  }
  if (card.pull_request) {
    lines.push(["pull-request", `Pull request (${card.pull_request.state}): ` +
      `${card.pull_request.text} — ${card.pull_request.url}`]);
  }
  if (card.state === "apply_failed") {
    lines.push(["failed", `Writing the ClientIntents failed (attempt ${card.apply_attempts}), ` +
      `retrying: ${card.apply_error || "unknown error"}`]);
  }
  if (card.state === "covered") {
    lines.push(["covered", `Now covered by ClientIntents ${card.covered_by}; no decision needed`]);
  }
  if (card.state === "blocked") {
    lines.push(["blocked", `Blocked by ${who} ${when(card.decided_at)}`]);
    if (card.retried_after_block_at) {
      lines.push(["retried", `Retried after block: seen again ${when(card.retried_after_block_at)}`]);
    }
  }
  if (card.open && card.approvals && card.approvals.length) {
    lines.push(["votes", `Approvals so far: ${card.approvals.map((u) => `@${u}`).join(", ")} ` +
      `(${card.approvals.length} of ${card.approvals_required}); one Block ends it`]);
  }
  if (["revoking", "revoked"].includes(card.state)) {
    lines.push(["approved", `Approved by ${who} ${when(card.decided_at)}`]);
    lines.push(["revoked", `Revoked by @${card.revoked_by} ${when(card.revoked_at)}`]);
  }
  for (const j of card.justifications || []) {
    lines.push(["why", `Why (${j.action}, @${j.by}): ${j.text}`]);
  }
  if (card.state === "revoking") {
    lines.push(card.apply_error
      ? ["failed", `Removing the target failed (attempt ${card.apply_attempts}), retrying: ${card.apply_error}`]
      : ["waiting", "Removing the target this approval added…"]);
  }
  if (card.state === "revoked") {
    if (card.revoke_result) lines.push(["removed", card.revoke_result]);
    lines.push(["retried", "If the flow is seen again, it asks for a new decision."]);
  }
  if (!lines.length) return null;
  return el("ul", { class: "outcome" },
    ...lines.map(([kind, text]) => el("li", { class: kind }, text)));
}

function intentsFile(card) {
  if (!card.intents_file) return null;
  const remember = (event) => {
    if (event.target.open) view.openFiles.add(card.id);
    else view.openFiles.delete(card.id);
  };
  return el("details", { class: "file", open: view.openFiles.has(card.id), ontoggle: remember },
    el("summary", {}, `File ${card.intents_file.name}`),
    el("pre", {}, card.intents_file.text));
}

function cardActions(card) {
  return card.actions || view.actions.filter((a) => card.allowed_actions.includes(a.action));
}

function confirmPanel(card, look) {
  const key = `${card.id}:${look.action}`;
  const busy = view.busy.has(card.id);
  const c = look.confirm || { title: `${look.label}?`, text: "", confirm: look.label, deny: "Cancel" };
  const error = view.fieldErrors.get(key);
  const field = look.justification ? el("label", { class: "why" }, "Justification",
    el("textarea", { rows: 3, maxLength: 1000, value: view.drafts.get(key) || "",
      "data-justification": "true", placeholder: "Why this access is needed; a ticket link",
      oninput: (event) => view.drafts.set(key, event.target.value) }),
    error ? el("span", { class: "field-error", role: "alert" }, error) : null) : null;
  return el("div", { class: `confirm${look.justification ? " justify" : ""}`, role: "group" },
    el("strong", {}, c.title), c.text ? el("p", {}, c.text) : null, field,
    el("div", { class: "buttons" },
      el("button", { type: "button", class: `btn ${look.style}`, disabled: busy,
        "data-action": look.action, "data-confirmed": "true",
        onclick: () => decide(card.id, look.action, view.drafts.get(key)) }, c.confirm),
      el("button", { type: "button", class: "btn", "data-cancel": "true",
        onclick: () => { view.confirming.delete(key); view.fieldErrors.delete(key); redraw(card.id); } },
      c.deny)));
}

function buttons(card) {
  const looks = cardActions(card);
  if (READ_ONLY || !looks.length) return null;
  const busy = view.busy.has(card.id);
  const confirming = looks.find((a) => view.confirming.has(`${card.id}:${a.action}`));
  if (confirming) return confirmPanel(card, confirming);
  return el("div", { class: "buttons" }, ...looks.map((a) =>
    el("button", { type: "button", class: `btn ${a.style}`, disabled: busy, "data-action": a.action,
      "data-asks": a.confirm || a.justification ? "true" : "false",
      onclick: () => {
        if (a.confirm || a.justification) { view.confirming.add(`${card.id}:${a.action}`); redraw(card.id); }
        else decide(card.id, a.action);
      } }, a.label)));
}

function warRoom(card) {
  if (!card.war_room) return null;
  return el("p", { class: "war-why" }, `War room: escalated because ${card.war_room.why}`);
}

function cardNode(card) {
  return el("article", { class: `card sev-${card.severity} state-${card.state}`,
    "data-anomaly-id": card.id, "data-state": card.state },
  el("header", {},
    el("span", { class: "sev" }, card.severity),
    el("h2", {}, card.title),
    el("span", { class: "state" }, stateLabel(card.state))),
  // A covered flow asks nothing and the bot writes nothing for it: no grant, no snippet.
  warRoom(card), facts(card), card.state === "covered" ? null : grant(card),
  card.state === "covered" ? null : intent(card), context(card), outcome(card),
  intentsFile(card), buttons(card),
  el("footer", {}, `anomaly ${card.short_id} · ${stateLabel(card.state)}`));
}

function redraw(id) {
  const entry = view.cards.get(id);
  if (!entry) return;
  const node = cardNode(entry.card);
  entry.node.replaceWith(node);
  entry.node = node;
  applyTab();
}

function render(data) {
  view.actions = data.actions;
  const container = document.getElementById("cards");
  const seen = new Set();
  for (const card of data.anomalies) {
    seen.add(card.id);
    const json = JSON.stringify(card);
    const entry = view.cards.get(card.id);
    if (entry && entry.json === json) {
      container.append(entry.node); // keeps the server's order; unchanged cards keep their DOM
      continue;
    }
    const node = cardNode(card);
    if (entry) entry.node.replaceWith(node);
    container.append(node);
    view.cards.set(card.id, { card, json, node });
  }
  for (const [id, entry] of view.cards) {
    if (!seen.has(id)) { entry.node.remove(); view.cards.delete(id); }
  }
  const counts = data.counts;
  const open = (counts.pending || 0) + (counts.escalated || 0);
  document.getElementById("n-all").textContent = data.total;
  document.getElementById("n-open").textContent = open;
  document.getElementById("n-decided").textContent = data.total - open;
  document.getElementById("n-war-room").textContent =
    data.anomalies.filter((card) => card.war_room).length;
  document.getElementById("empty").hidden = data.total > 0;
  renderPaging(data);
  applyTab();
}

function listUrl() {
  const query = new URLSearchParams({ offset: listing.offset, limit: PAGE_SIZE });
  if (listing.namespace) query.set("namespace", listing.namespace);
  if (listing.severity) query.set("severity", listing.severity);
  if (TAB_STATES[view.tab]) query.set("state", TAB_STATES[view.tab]);
  return `/api/anomalies?${query}`;
}

function renderPaging(data) {
  listing.matching = data.page.matching;
  const select = document.getElementById("f-namespace");
  const known = [...select.options].map((o) => o.value).slice(1);
  if (known.join("\n") !== data.namespaces.join("\n")) {
    select.replaceChildren(el("option", { value: "" }, "all"),
      ...data.namespaces.map((ns) => el("option", { value: ns }, ns)));
    select.value = listing.namespace;
  }
  const first = data.anomalies.length ? listing.offset + 1 : 0;
  document.getElementById("page-info").textContent =
    `${first}–${listing.offset + data.anomalies.length} of ${listing.matching}`;
  document.getElementById("page-prev").disabled = listing.offset === 0;
  document.getElementById("page-next").disabled =
    listing.offset + data.anomalies.length >= listing.matching;
}

function turnTo(offset) {
  listing.offset = Math.max(0, offset);
  refresh();
}

function bindFilters() {
  for (const [id, key] of [["f-namespace", "namespace"], ["f-severity", "severity"]]) {
    document.getElementById(id).addEventListener("change", (event) => {
      listing[key] = event.target.value;
      turnTo(0);
    });
  }
  document.getElementById("page-prev").addEventListener("click", () => turnTo(listing.offset - PAGE_SIZE));
  document.getElementById("page-next").addEventListener("click", () => turnTo(listing.offset + PAGE_SIZE));
}

function applyTab() {
  const audit = view.tab === "audit";
  document.getElementById("audit").hidden = !audit;
  document.getElementById("cards").hidden = audit;
  document.getElementById("war-room-lead").hidden = view.tab !== "war-room";
  for (const { card, node } of view.cards.values()) {
    node.hidden = (view.tab === "open" && !card.open) || (view.tab === "decided" && card.open) ||
      (view.tab === "war-room" && !card.war_room);
  }
}

function renderAudit(data) {
  const detections = document.getElementById("with-detections").checked;
  const shown = data.entries.filter((e) => detections || e.action !== "detected");
  const rows = shown.map((e) => el("tr", { class: `result-${e.result}` },
    el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", {}, e.action),
    el("td", {}, e.result),
    el("td", {}, el("code", {}, e.short_id), " ", e.flow),
    el("td", { class: "detail" }, Object.keys(e.detail).length ? JSON.stringify(e.detail) : "")));
  document.getElementById("audit-rows").replaceChildren(...rows);
}

function notice(text, kind) {
  const box = document.getElementById("notice");
  box.textContent = people(text).replaceAll("`", "");
  box.className = `notice ${kind}`;
  box.hidden = false;
  clearTimeout(view.noticeTimer);
  view.noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

async function decide(id, action, justification) {
  const key = `${id}:${action}`;
  view.busy.add(id);
  redraw(id);
  try {
    const form = { as: view.as };
    if (justification !== undefined) form.justification = justification;
    const response = await fetch(`/api/anomalies/${encodeURIComponent(id)}/${action}`, {
      method: "POST", headers: { [CSRF_HEADER]: CSRF_TOKEN, "Content-Type": "application/json" },
      credentials: "same-origin", body: JSON.stringify(form) });
    const body = await response.json();
    if (response.status === 422 && body.errors) {
      // The field stays open with the reason next to it, like Slack's modal.
      view.confirming.add(key);
      view.fieldErrors.set(key, body.errors.justification);
      notice(body.message, "refused");
      return;
    }
    view.confirming.delete(key);
    view.fieldErrors.delete(key);
    view.drafts.delete(key);
    const decided = body.verdict === "decided" && body.anomaly;
    const text = decided ? `${body.anomaly.title}: ${stateLabel(body.anomaly.state)}` : body.message;
    notice(text || body.error || response.statusText, response.ok ? "ok" : "refused");
  } catch (error) {
    notice(`Could not reach the service: ${error}`, "refused");
  } finally {
    view.busy.delete(id);
    redraw(id);
    await refresh();
  }
}

async function refresh() {
  const live = document.getElementById("live");
  try {
    const response = await fetch(listUrl(), { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    if (view.tab === "audit") {
      renderAudit(await (await fetch("/api/audit", { credentials: "same-origin" })).json());
    }
    live.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    live.className = "live ok";
  } catch (error) {
    live.textContent = `disconnected (${error.message}), retrying…`;
    live.className = "live down";
  }
}

async function poll() {
  await refresh();
  setTimeout(poll, POLL_MS);
}

function whoAmI() {
  const who = document.getElementById("who");
  if (READ_ONLY) { who.textContent = "Read-only dashboard"; return; }
  const lead = "You decide as ";
  const tail = ", with the same approver rules, risk rules and audit as in Slack.";
  if (USERS.length < 2) { who.textContent = `${lead}@${USER}${tail}`; return; }
  // The demo has two approvers, so a two-person rule can be seen working.
  const pick = el("select", { id: "decide-as", onchange: (event) => { view.as = event.target.value; } },
    ...USERS.map((user) => el("option", { value: user, selected: user === view.as }, `@${user}`)));
  who.replaceChildren(lead, pick, tail);
}

document.addEventListener("DOMContentLoaded", () => {
  whoAmI();
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.addEventListener("click", () => {
      view.tab = tab.dataset.tab;
      for (const other of document.querySelectorAll("#tabs button")) {
        other.classList.toggle("active", other === tab);
      }
      applyTab();
      turnTo(0);
    });
  }
  bindFilters();
  document.getElementById("with-detections").addEventListener("change", refresh);
  poll();
});
