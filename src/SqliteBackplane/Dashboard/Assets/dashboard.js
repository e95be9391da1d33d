// The SQLite backplane dashboard: one EventSource on ./events (a JSON snapshot each second, pushed by the server),
// rendered with plain DOM calls. Every list on the page comes bounded from the server and replaces the previous one;
// the page keeps no array that grows (the group search keeps one small result per hub).
import { drawRates } from "./chart.js";

const $ = (id) => document.getElementById(id);

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("data-")) node.setAttribute(key, String(value));
    else if (key === "class") node.className = value;
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

const number = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US", { maximumFractionDigits: 1 }));
const bytes = (value) => {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
  return `${value.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
};
const duration = (ms) => {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
};
const time = (ms) => new Date(ms).toLocaleTimeString("en-GB", { hour12: false }) + "." + String(ms % 1000).padStart(3, "0");
const shortId = (id) => (id ? id.slice(0, 8) : "");
const shortHub = (hub) => (hub ? hub.split(".").pop() : "(backplane)");

function renderNodes(snapshot) {
  const rows = snapshot.nodes.map((node) => {
    const state = node.state === "gone" ? `gone${node.reason ? `: ${node.reason}` : ""}` : node.state;
    const lag = node.lagRows === undefined ? "–" : `${number(node.lagRows)} rows, ${duration(node.lagMs)}`;
    return h("tr", { "data-node-id": node.id, "data-pid": node.pid, "data-state": node.state, "data-reason": node.reason, "data-self": node.self },
      h("td", { title: node.id }, node.machine),
      h("td", {}, node.pid),
      h("td", {}, duration(snapshot.at - node.startedAt)),
      h("td", {}, `${duration(node.heartbeatAgeMs)} ago`),
      h("td", { class: "lag" }, lag),
      h("td", { class: "connections" }, number(node.localConnections ?? node.connections)),
      h("td", { class: "in" }, number(node.inPerSecond)),
      h("td", { class: "out" }, number(node.outPerSecond)),
      h("td", { class: "state" }, state));
  });
  $("nodes").tBodies[0].replaceChildren(...rows);
}

function renderLog(snapshot) {
  const log = snapshot.log;
  drawRates($("rate-chart"), log.rowsPerSecond);
  $("rate-now").textContent = `now ${number(log.rowsPerSecond.at(-1) ?? 0)}/s`;
  const items = [
    ["Rows", number(log.rows)],
    ["Ids", log.firstId === undefined ? "empty" : `${log.firstId} – ${log.lastId}`],
    ["Oldest row", log.oldestAgeMs === undefined ? "–" : `${duration(log.oldestAgeMs)} old`],
    ["File", bytes(log.fileBytes)],
    ["WAL", bytes(log.walBytes)],
    ["Expired (skipped)", number(log.expired)],
    ["Dropped (oldest)", number(log.droppedOldest)],
    ["Dropped (slow clients)", number(log.dropped)],
    ["Failed writes", number(log.writeFailures)],
  ];
  $("log").replaceChildren(...items.flatMap(([term, value]) => [h("dt", {}, term), h("dd", { "data-field": term }, value)]));
  const health = $("health");
  health.dataset.status = log.health ?? "";
  health.textContent = log.health ? `${log.health}: ${log.healthDescription ?? ""}` : "health: checking…";
}

// Per hub: what the search box holds and its last result (one small list per hub).
const searches = new Map();

async function search(hub, query) {
  const entry = { query, groups: null };
  searches.set(hub, entry);
  if (!query) { searches.delete(hub); return; }
  const response = await fetch(`groups?hub=${encodeURIComponent(hub)}&q=${encodeURIComponent(query)}`);
  if (response.ok && searches.get(hub) === entry) entry.groups = await response.json();
}

function renderHubs(snapshot) {
  const container = $("hubs");
  const focused = document.activeElement?.dataset?.searchHub;
  const known = new Set(snapshot.hubs.map((hub) => hub.hub));
  for (const hub of [...searches.keys()]) if (!known.has(hub)) searches.delete(hub);
  const cards = snapshot.hubs.map((hub) => {
    const entry = searches.get(hub.hub);
    const groups = entry?.groups ?? hub.groups;
    const input = h("input", { type: "search", placeholder: "search groups", value: entry?.query ?? "", "data-search-hub": hub.hub });
    let timer;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => search(hub.hub, input.value.trim()), 250);
    });
    return h("div", { class: "hub", "data-hub": hub.hub, "data-connections": hub.connections, "data-users": hub.users },
      h("div", {}, h("span", { class: "hub-name", title: hub.hub }, shortHub(hub.hub)), ` ${number(hub.connections)} connections, ${number(hub.users)} users`),
      input,
      h("ul", { class: "groups" }, ...groups.map((group) => h("li", { "data-group": group.name }, h("span", {}, group.name), h("span", { class: "muted" }, number(group.size))))));
  });
  if (cards.length === 0) cards.push(h("p", { class: "muted" }, "No connections."));
  container.replaceChildren(...cards);
  if (focused) {
    const input = container.querySelector(`input[data-search-hub="${CSS.escape(focused)}"]`);
    if (input) { input.focus(); input.setSelectionRange(input.value.length, input.value.length); }
  }
}

function renderResume(snapshot) {
  const entries = Object.entries(snapshot.resume);
  $("resume").replaceChildren(...(entries.length === 0
    ? [h("dt", {}, "none yet"), h("dd", {}, "")]
    : entries.flatMap(([key, count]) => [h("dt", {}, key.replace(":", " – ")), h("dd", { "data-resume": key }, number(count))])));
}

function renderPresence(snapshot) {
  const items = snapshot.presence.map((change) => {
    const who = change.connection ? `${change.user ?? "(no user)"} · ${shortId(change.connection)}` : `node ${shortId(change.node)}`;
    return h("li", { "data-kind": change.kind, "data-user": change.user, "data-node-id": change.node },
      h("span", { class: "muted" }, time(change.at)), ` ${change.kind} ${who}`, change.hub ? h("span", { class: "muted" }, ` ${shortHub(change.hub)}`) : "");
  });
  $("presence").replaceChildren(...items);
}

function renderTail(snapshot) {
  $("payload-note").textContent = snapshot.payloadsShown ? "(payloads shown)" : "(payloads hidden)";
  const rows = [];
  for (const row of snapshot.tail) {
    rows.push(h("tr", { "data-id": row.id, "data-kind": row.kind },
      h("td", {}, row.id),
      h("td", {}, time(row.at)),
      h("td", { title: row.hub }, shortHub(row.hub)),
      h("td", {}, row.kind),
      h("td", { class: "targets", title: row.targets.join(", ") }, row.targets.join(", ")),
      h("td", {}, bytes(row.size)),
      h("td", { title: row.node }, shortId(row.node))));
    if (row.payload) rows.push(h("tr", { class: "payload-row" }, h("td", { class: "payload", colSpan: 7 }, row.payload)));
  }
  $("tail").tBodies[0].replaceChildren(...rows);
}

function render(snapshot) {
  $("database").textContent = snapshot.database;
  document.body.dataset.at = String(snapshot.at);
  renderNodes(snapshot);
  renderLog(snapshot);
  renderHubs(snapshot);
  renderResume(snapshot);
  renderPresence(snapshot);
  renderTail(snapshot);
}

const status = $("status");
const events = new EventSource("events");
events.onopen = () => { status.dataset.state = "connected"; status.textContent = "live"; };
events.onerror = () => { status.dataset.state = "reconnecting"; status.textContent = "reconnecting…"; };
events.onmessage = (event) => render(JSON.parse(event.data));
