// hookrelay inspector. Reads the admin API of the server that serves it: GET /events
// newest first, a page at a time (never all of them), new events live from
// /events/stream (or by polling GET /events?cursor= where the stream is absent or a
// proxy holds it back), one event with its body, headers and deliveries, and replays.
// Everything from the server is shown as text (textContent), never as HTML.
"use strict";

const PAGE = 200;           // events per request while scrolling back
const POLL_MS = 1000;       // polling interval when there is no stream
const QUIET_MS = 20000;     // a stream silent this long (heartbeats come every 15 s) is held back
const TOKEN_KEY = "hookrelay.admin-token";
const $ = (id) => document.getElementById(id);

const ui = {
  events: [],               // newest first, as far back as loaded
  bySeq: new Set(),
  older: null,              // cursor of the next older page, null when none
  loadingOlder: false,
  newest: 0,                // seq of the newest event seen (for the stream and polling)
  type: "",
  paused: false,
  held: [],                 // events that came while paused, oldest first
  tabStop: null,            // seq of the row that Tab reaches (the list is one Tab stop)
  live: null,               // AbortController of the live feed
  mode: "",
  deliveries: new Map(),    // key -> {state, title} | "loading"
  queue: [],
  fetching: 0,
  open: null,               // key of the event shown in the detail pane
  rowHeight: 36,
  types: new Set(),
};

// ---- the API -------------------------------------------------------------------------

class Unauthorized extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers);
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    throw new Unauthorized(body.message || "the admin token is not valid");
  }
  return response;
}

// event_id is a 64-bit integer: beyond 2^53 a JS number would change it, so such ids are
// kept as the text the server wrote (where the browser gives the source text to a reviver).
function parseJson(text) {
  return JSON.parse(text, (key, value, context) =>
    key === "event_id" && typeof value === "number" && !Number.isSafeInteger(value) && context && context.source
      ? context.source
      : value);
}

async function json(path, options) {
  const response = await api(path, options);
  const text = await response.text();
  const body = text ? parseJson(text) : {};
  if (!response.ok) throw new Error(body.message || response.status + " " + response.statusText);
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  return q.toString();
}

// What names an event in paths: its string id where the server has one, else event_id.
function key(event) {
  return event.id !== undefined && event.id !== null ? String(event.id) : String(event.event_id);
}

// What a person calls it: event_id where there is one, else the string id.
function label(event) {
  return event.event_id !== undefined && event.event_id !== null ? String(event.event_id) : String(event.id);
}

// ---- formatting ----------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function size(bytes) {
  if (bytes === undefined || bytes === null) return "";
  if (bytes < 1024) return bytes + " B";
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KiB";
  return (bytes / 1024 / 1024).toFixed(1) + " MiB";
}

function clock(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return iso || "";
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// Pretty-prints JSON text without parsing its numbers, so every digit stays as received.
function indent(text) {
  let out = "", depth = 0, inString = false, escaped = false;
  const newline = () => "\n" + "  ".repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === " " || c === "\n" || c === "\r" || c === "\t") continue;
    if (c === '"') { inString = true; out += c; }
    else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      let j = i + 1;
      while (j < text.length && " \n\r\t".includes(text[j])) j++;
      if (text[j] === close) { out += c + close; i = j; continue; }
      depth++; out += c + newline();
    } else if (c === "}" || c === "]") { depth--; out += newline() + c; }
    else if (c === ",") out += "," + newline();
    else if (c === ":") out += ": ";
    else out += c;
  }
  return out;
}

// A word for a shell: single-quoted, exact for any bytes but NUL.
function shellQuote(s) {
  return "'" + String(s).replace(/'/g, "'\\''") + "'";
}

// ---- server state --------------------------------------------------------------------

async function refreshState() {
  const asked = (refreshState.asked = (refreshState.asked || 0) + 1);
  try {
    const health = await json("/healthz");
    const parts = [`${health.events} events kept`, `${health.evicted} evicted`];
    const metrics = await api("/metrics").then((r) => (r.ok ? r.text() : ""));
    const states = [];
    let dead = 0;
    for (const m of metrics.matchAll(/^hookrelay_deliveries_in_state\{status="([a-z_]+)"\} ([0-9.e+]+)$/gm)) {
      const n = Number(m[2]);
      if (m[1] === "dead") dead = n;
      if (n > 0) states.push(`${n} ${m[1].replace("_", " ")}`);
    }
    parts.push(states.length ? "deliveries: " + states.join(", ") : "no deliveries");
    if (asked < (refreshState.shown || 0)) return; // a later answer is already shown
    refreshState.shown = asked;
    $("state").textContent = parts.join(" · ");
    $("replay-dead").hidden = dead === 0;
  } catch (e) {
    if (e instanceof Unauthorized) return askToken(e.message);
    $("state").textContent = "server unreachable: " + e.message;
  }
}

async function replayDead() {
  try {
    $("replay-note").textContent = "";
    const r = await json("/deliveries/replay?status=dead", { method: "POST" });
    // Beside the button, where the state line's refresh does not overwrite it.
    $("replay-note").textContent = `replayed ${r.replayed} dead ${r.replayed === 1 ? "delivery" : "deliveries"}`;
    ui.deliveries.clear();
    render();
    if (ui.open !== null) showDeliveries(ui.open, true);
    setTimeout(refreshState, 1000);
  } catch (e) {
    if (e instanceof Unauthorized) return failed(e);
    $("replay-note").textContent = "replay failed: " + e.message;
  }
}

// ---- the list: newest first, rendered a screenful at a time --------------------------

async function loadFirst() {
  ui.events = []; ui.bySeq.clear(); ui.older = null; ui.held = []; ui.newest = 0;
  const page = await json("/events?" + query({ order: "desc", limit: 100, summary: "true", event_type: ui.type }));
  add(page.events, "end");
  ui.older = page.next_cursor;
  if (ui.events.length) ui.newest = ui.events[0].seq;
  $("list-note").textContent = ui.events.length ? ""
    : ui.type ? "No event of type " + ui.type + "." : "No events yet. POST one to /webhook and it appears here.";
  render();
}

async function loadOlder() {
  if (ui.loadingOlder || ui.older === null) return;
  ui.loadingOlder = true;
  try {
    const page = await json("/events?" + query({ order: "desc", limit: PAGE, cursor: ui.older, summary: "true", event_type: ui.type }));
    add(page.events, "end");
    ui.older = page.next_cursor;
    render();
  } catch (e) {
    failed(e);
  } finally {
    ui.loadingOlder = false;
  }
}

// Adds events (newest first for "end", oldest first for "start"), once each.
function add(events, where) {
  const fresh = events.filter((e) => !ui.bySeq.has(e.seq));
  fresh.forEach((e) => { ui.bySeq.add(e.seq); noteType(e.event_type); });
  if (where === "end") ui.events.push(...fresh);
  else ui.events.unshift(...fresh.reverse());
}

function noteType(t) {
  if (ui.types.has(t) || ui.types.size > 200) return;
  ui.types.add(t);
  $("types").append(el("option", { value: t }));
}

function arrived(events) {
  events = events.filter((e) => e.seq > ui.newest && (!ui.type || e.event_type === ui.type));
  if (!events.length) return;
  ui.newest = Math.max(ui.newest, ...events.map((e) => e.seq));
  if (ui.paused) {
    ui.held.push(...events);
    showLive();
    return;
  }
  const viewport = $("viewport");
  const keep = viewport.scrollTop > 0; // reading further down: the rows stay where they are
  add(events, "start");
  if (keep) viewport.scrollTop += events.length * ui.rowHeight;
  $("list-note").textContent = "";
  render();
  clearTimeout(arrived.state);
  arrived.state = setTimeout(refreshState, 300);
}

function render() {
  const viewport = $("viewport"), rows = $("rows");
  const total = ui.events.length;
  $("spacer").style.height = total * ui.rowHeight + "px";
  const first = Math.max(0, Math.floor(viewport.scrollTop / ui.rowHeight) - 10);
  const last = Math.min(total, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ui.rowHeight) + 10);
  const wanted = new Map();
  for (let i = first; i < last; i++) wanted.set(ui.events[i].seq, i);
  for (const row of [...rows.children]) {
    const seq = Number(row.dataset.seq);
    if (!wanted.has(seq)) row.remove();
  }
  const present = new Map([...rows.children].map((r) => [Number(r.dataset.seq), r]));
  // One row holds the list's Tab stop (the arrows move between rows): the last one
  // focused while it is drawn, else the first on screen.
  const onScreen = Math.min(total - 1, Math.ceil(viewport.scrollTop / ui.rowHeight));
  const stop = wanted.has(ui.tabStop) ? ui.tabStop : total ? ui.events[Math.max(0, onScreen)].seq : null;
  for (const [seq, i] of wanted) {
    const event = ui.events[i];
    const row = present.get(seq) || rows.appendChild(makeRow(event));
    row.style.transform = `translateY(${i * ui.rowHeight}px)`;
    row.setAttribute("aria-posinset", i + 1);
    row.setAttribute("aria-setsize", ui.older === null ? total : -1);
    row.setAttribute("aria-current", key(event) === ui.open ? "true" : "false");
    row.tabIndex = seq === stop ? 0 : -1;
    paintDelivery(row, key(event));
  }
  if (last + 50 > total) loadOlder();
}

function makeRow(event) {
  const row = el("a", { class: "row", role: "listitem", href: "#event/" + encodeURIComponent(key(event)), "data-seq": event.seq, "data-id": key(event), "data-event-id": event.event_id },
    el("span", { text: clock(event.received_at), title: event.received_at }),
    el("span", { text: label(event), title: key(event) }),
    el("span", { text: event.event_type, title: event.event_type }),
    el("span", { text: size(event.size) }),
    el("span", { class: "delivery-cell" }));
  return row;
}

function measure() {
  const probe = $("rows").firstElementChild;
  if (probe && probe.offsetHeight) ui.rowHeight = probe.offsetHeight;
  else {
    const css = getComputedStyle(document.documentElement).getPropertyValue("--row");
    ui.rowHeight = parseFloat(css) * parseFloat(getComputedStyle(document.documentElement).fontSize) || 36;
  }
}

// Arrow keys move between rows (rendering them as needed), Home and End jump.
function onListKey(event) {
  const row = document.activeElement && document.activeElement.closest && document.activeElement.closest("#rows .row");
  if (!row) return;
  const index = ui.events.findIndex((e) => e.seq === Number(row.dataset.seq));
  const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
  let next;
  if (event.key in moves) next = index + moves[event.key];
  else if (event.key === "Home") next = 0;
  else if (event.key === "End") next = ui.events.length - 1;
  else return;
  event.preventDefault();
  focusRow(Math.max(0, Math.min(ui.events.length - 1, next)));
}

function focusRow(index) {
  const viewport = $("viewport");
  const top = index * ui.rowHeight;
  if (top < viewport.scrollTop) viewport.scrollTop = top;
  else if (top + ui.rowHeight > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = top + ui.rowHeight - viewport.clientHeight;
  render();
  const row = $("rows").querySelector(`[data-seq="${ui.events[index].seq}"]`);
  if (row) row.focus();
}

// ---- delivery state of the rows on screen ---------------------------------------------

const RANK = ["dead", "failed", "in_flight", "pending", "delivered"];

function summarize(deliveries) {
  if (!deliveries.length) return { state: "none", label: "—", title: "no deliveries" };
  const states = deliveries.map((d) => d.status);
  const state = RANK.find((s) => states.includes(s)) || states[0];
  const label = deliveries.length > 1 ? `${state.replace("_", " ")} ${states.filter((s) => s === state).length}/${deliveries.length}` : state.replace("_", " ");
  return { state, label, title: deliveries.map((d) => `${d.target}: ${d.status}`).join("\n") };
}

function paintDelivery(row, id) {
  const cell = row.querySelector(".delivery-cell");
  const known = ui.deliveries.get(String(id));
  if (known === undefined) {
    ui.deliveries.set(String(id), "loading");
    ui.queue.push(String(id));
    pump();
  }
  if (!known || known === "loading") return;
  if (cell.dataset.state === known.state && cell.textContent === known.label) return;
  cell.replaceChildren(el("span", { class: "badge s-" + known.state, text: known.label, title: known.title }));
  cell.dataset.state = known.state;
}

// At most four requests at a time, only for rows that are still on screen.
function pump() {
  while (ui.fetching < 4 && ui.queue.length) {
    const id = ui.queue.shift();
    if (!$("rows").querySelector(`[data-id="${CSS.escape(id)}"]`)) { ui.deliveries.delete(id); continue; }
    ui.fetching++;
    json(`/events/${encodeURIComponent(id)}/deliveries`)
      .then((r) => ui.deliveries.set(id, summarize(r.deliveries)))
      .catch(() => ui.deliveries.set(id, { state: "none", label: "?", title: "not known" }))
      .finally(() => { ui.fetching--; render(); pump(); });
  }
}

// A delivery update names its event by string id or event_id, as the server has them.
function deliveryChanged(data) {
  const names = [data.event, data.id, data.event_id].filter((n) => n !== undefined && n !== null).map(String);
  const matches = (k, e) => names.includes(k) || (e && names.includes(String(e.event_id)));
  for (const e of ui.events) if (matches(key(e), e)) ui.deliveries.delete(key(e));
  render();
  if (ui.open !== null && (matches(ui.open) || ui.events.some((e) => key(e) === ui.open && matches(ui.open, e)))) showDeliveries(ui.open, false);
}

// ---- live: the stream, or polling where there is none ---------------------------------

function startLive() {
  if (ui.live) ui.live.abort();
  ui.live = new AbortController();
  streamLoop(ui.live.signal);
}

async function streamLoop(signal) {
  let failures = 0;
  while (!signal.aborted) {
    const got = await stream(signal).catch((e) => {
      if (e instanceof Unauthorized) { askToken(e.message); return "stop"; }
      return "error";
    });
    if (got === "stop" || signal.aborted) return;
    if (got === "absent" || got === "held") { await poll(signal); return; }
    failures = got === "data" ? 0 : failures + 1;
    if (failures >= 3) { await poll(signal); return; }
    await sleep(1000 * failures, signal);
  }
}

// One connection to /events/stream; what ended it: "absent" (no stream here), "held"
// (nothing came, not even a heartbeat: a proxy buffers it), "data", "error".
async function stream(signal) {
  const quiet = new AbortController();
  const abort = () => quiet.abort();
  signal.addEventListener("abort", abort);
  let timer = setTimeout(abort, QUIET_MS);
  try {
    const response = await api("/events/stream?" + query({ after: ui.newest, event_type: ui.type }), { signal: quiet.signal, headers: { Accept: "text/event-stream" } });
    if (!response.ok || !(response.headers.get("content-type") || "").startsWith("text/event-stream")) return "absent";
    setMode("stream");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "", any = false, message = { event: "message", data: [] };
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ done: true }));
      if (done) return quiet.signal.aborted && !any ? "held" : any ? "data" : "error";
      any = true;
      clearTimeout(timer);
      timer = setTimeout(abort, QUIET_MS);
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") { dispatch(message); message = { event: "message", data: [] }; continue; }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") message.event = text;
        else if (field === "data") message.data.push(text);
      }
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", abort);
  }
}

function dispatch(message) {
  if (!message.data.length) return;
  let data;
  try { data = parseJson(message.data.join("\n")); } catch { return; }
  if (message.event === "event") arrived([data]);
  else if (message.event === "delivery") deliveryChanged(data);
}

async function poll(signal) {
  setMode("polling");
  while (!signal.aborted) {
    try {
      let more = true;
      while (more && !signal.aborted) {
        const page = await json("/events?" + query({ cursor: ui.newest, limit: 1000, summary: "true", event_type: ui.type }), { signal });
        arrived(page.events);
        more = page.next_cursor !== null;
      }
      if (ui.open !== null && openDeliveries()) showDeliveries(ui.open, false);
    } catch (e) {
      if (e instanceof Unauthorized) return askToken(e.message);
    }
    await sleep(POLL_MS, signal);
  }
}

function openDeliveries() {
  const shown = $("detail").querySelectorAll(".delivery .badge");
  return [...shown].some((b) => /pending|in_flight|failed/.test(b.className));
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal && signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

function setMode(mode) {
  ui.mode = mode;
  showLive();
}

function showLive() {
  const live = $("live");
  if (ui.paused) {
    live.className = "live";
    live.textContent = ui.held.length ? `paused · ${ui.held.length} new` : "paused";
  } else {
    live.className = "live on";
    live.textContent = ui.mode === "stream" ? "live" : "live (polling)";
  }
}

function togglePause() {
  ui.paused = !ui.paused;
  $("pause").setAttribute("aria-pressed", String(ui.paused));
  $("pause").textContent = ui.paused ? "Resume" : "Pause";
  if (!ui.paused && ui.held.length) {
    const held = ui.held;
    ui.held = [];
    ui.newest = Math.min(ui.newest, held[0].seq - 1);
    arrived(held);
  }
  showLive();
}

// ---- one event ------------------------------------------------------------------------

async function showEvent(id) {
  ui.open = id;
  render();
  const detail = $("detail");
  detail.replaceChildren(el("p", { class: "note", text: "loading event " + id + "…" }));
  let event, raw;
  try {
    // Read through the list's id filter, not /events/ID: an event may be called "stream".
    const response = await api("/events?" + query({ id }));
    const found = response.ok ? parseJson(await response.text()).events[0] : undefined;
    if (!found) {
      const body = response.ok ? {} : await response.json().catch(() => ({}));
      detail.replaceChildren(el("p", { class: "note", role: "alert", text: body.message || "no event " + id }));
      return;
    }
    event = found;
    raw = await api("/events/" + encodeURIComponent(id) + "/body").then((r) => r.text());
  } catch (e) {
    return failed(e);
  }
  if (ui.open !== id) return;

  const meta = el("dl", { class: "meta" });
  const fact = (name, value) => { if (value !== undefined && value !== null && value !== "") meta.append(el("dt", { text: name }), el("dd", { text: String(value) })); };
  fact("event_type", event.event_type);
  fact("id", event.id);
  fact("event_id", event.id !== undefined && event.event_id !== null ? event.event_id : undefined);
  fact("received", event.received_at);
  fact("timestamp", event.timestamp);
  fact("description", event.description);
  fact("size", size(event.size === undefined ? new TextEncoder().encode(raw).length : event.size));
  fact("seq", event.seq);
  if (event.signature !== undefined && event.signature !== null) fact("signature", describe(event.signature));

  // A body that is not JSON (a Slack form: the API gives its body as null) as it is.
  const pretty = el("pre", { id: "body-pretty", tabindex: "0", text: event.body === null ? raw : indent(raw) });
  const exact = el("pre", { id: "body-raw", tabindex: "0", text: raw, hidden: true });
  const view = (showRaw) => () => {
    pretty.hidden = showRaw; exact.hidden = !showRaw;
    prettyButton.setAttribute("aria-pressed", String(!showRaw));
    rawButton.setAttribute("aria-pressed", String(showRaw));
  };
  const prettyButton = el("button", { type: "button", "aria-pressed": "true", onclick: view(false), text: "Pretty" });
  const rawButton = el("button", { type: "button", "aria-pressed": "false", onclick: view(true), text: "Raw" });

  const copied = el("div", { id: "copied" });
  const webhook = location.origin + "/webhook";
  const again = resent(event.headers);
  const typed = again.some(([name]) => name === "content-type") ? [] : [["content-type", "application/json"]];
  const options = (pairs) => pairs.map(([name, value]) => " -H " + shellQuote(name + ": " + value)).join("");
  const curl = `curl -sS -X POST ${shellQuote(webhook)}${options(typed.concat(again))} --data-binary ${shellQuote(raw)}`;
  // The model's events as `send` checks them; any other JSON as it is (`--as json`), with
  // the headers it came with (content-type aside: `send` sets it).
  const model = event.event_id !== undefined && event.event_id !== null;
  const sendHeaders = again.filter(([name]) => name !== "content-type");
  const send = event.body === null ? null
    : `printf '%s' ${shellQuote(raw)} | hookrelay send${model ? "" : " --as json"} --to ${shellQuote(webhook)} -f -${options(sendHeaders)}`;

  detail.replaceChildren(...[
    el("h2", { id: "event-title", text: "event " + label(event) }),
    meta,
    el("div", { class: "actions" },
      el("button", { type: "button", id: "replay", onclick: () => replay(id, null), text: "Replay to all targets" }),
      el("button", { type: "button", id: "copy-curl", onclick: () => copy(curl, "curl", copied), text: "Copy as curl" }),
      send === null ? null : el("button", { type: "button", id: "copy-send", onclick: () => copy(send, "hookrelay send", copied), text: "Copy as hookrelay send" })),
    copied,
    el("h3", {}, "Body ", prettyButton, " ", rawButton),
    pretty, exact,
    el("h3", { text: "Headers" }),
    headersTable(event.headers),
    event.headers_truncated ? el("p", { class: "note", text: "Only the first headers were kept (16 KiB at most)." }) : null,
    el("h3", { text: "Deliveries" }),
    el("div", { id: "deliveries" }, el("p", { class: "note", text: "loading…" })),
  ].filter((node) => node !== null));
  showDeliveries(id, false);
}

function describe(value) {
  if (typeof value !== "object") return String(value);
  return Object.entries(value).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
}

// The kept headers that a copy of the request sends again: not those the client sets for
// itself (host, framing, connection), nor a value kept only as "[redacted]".
const NOT_RESENT = new Set(["host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "upgrade", "expect", "proxy-connection", "user-agent", "accept", "accept-encoding"]);
function resent(headers) {
  return pairsOf(headers)
    .filter(([name, value]) => !NOT_RESENT.has(String(name).toLowerCase()) && value !== "[redacted]")
    .map(([name, value]) => [String(name).toLowerCase(), String(value)]);
}

// The event's headers as [name, value] pairs, in order.
function pairsOf(headers) {
  if (headers === undefined || headers === null) return [];
  if (Array.isArray(headers)) return headers.map((h) => (Array.isArray(h) ? h : [h.name, h.value]));
  return Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]));
}

function headersTable(headers) {
  if (headers === undefined || headers === null) return el("p", { class: "note", text: "This server does not keep request headers." });
  const pairs = pairsOf(headers);
  if (!pairs.length) return el("p", { class: "note", text: "No headers were kept." });
  return el("table", { id: "headers" },
    el("thead", {}, el("tr", {}, el("th", { text: "name" }), el("th", { text: "value" }))),
    el("tbody", {}, pairs.map(([k, v]) => el("tr", {}, el("td", { class: "mono", text: k }), el("td", { class: "mono", text: String(v) })))));
}

// Shows the deliveries of `id`; with `watch`, checks again for a while until a new
// attempt is there (after a replay).
async function showDeliveries(id, watch, before) {
  let body;
  try {
    body = await json(`/events/${encodeURIComponent(id)}/deliveries`);
  } catch (e) {
    if (e instanceof Unauthorized) return askToken(e.message);
    return;
  }
  const box = $("deliveries");
  if (!box || String(ui.open) !== String(id)) return;
  const deliveries = body.deliveries;
  ui.deliveries.set(String(id), summarize(deliveries));
  render();
  const attempts = deliveries.reduce((n, d) => n + d.attempts.length, 0);
  box.replaceChildren(...(deliveries.length ? deliveries.map((d) => deliveryBox(id, d)) : [el("p", { class: "note", text: "No deliveries: this server relays nothing (see serve --forward-to)." })]));
  if (watch) {
    const start = before === undefined ? { attempts, until: Date.now() + 15000 } : before;
    const settled = attempts > start.attempts && !deliveries.some((d) => d.status === "pending" || d.status === "in_flight");
    if (!settled && Date.now() < start.until) setTimeout(() => showDeliveries(id, true, start), 400);
  }
}

function deliveryBox(id, d) {
  const attempts = d.attempts.map((a, i) => el("tr", {},
    el("td", { text: String(i + 1) }),
    el("td", { text: clock(a.at), title: a.at }),
    el("td", { text: a.status_code === null || a.status_code === undefined ? "—" : String(a.status_code) }),
    el("td", { text: a.duration_ms + " ms" }),
    el("td", { text: a.error || "" }),
    el("td", { text: a.next_attempt_at ? clock(a.next_attempt_at) : "", title: a.next_attempt_at || "" })));
  return el("div", { class: "delivery" },
    el("header", {},
      el("span", { class: "badge s-" + d.status, text: d.status.replace("_", " ") }),
      el("span", { class: "target", text: d.target }),
      el("button", { type: "button", onclick: () => replay(id, d.target), text: "Replay to this target" })),
    d.next_attempt_at ? el("p", { class: "note", text: "next attempt at " + d.next_attempt_at }) : null,
    d.attempts.length
      // In a scroll box of its own: a narrow window scrolls the table, not its numbers.
      ? el("div", { class: "scroll-x" }, el("table", { class: "attempts" },
        el("thead", {}, el("tr", {}, ["#", "at", "status", "duration", "error", "next attempt"].map((h) => el("th", { text: h })))),
        el("tbody", {}, attempts)))
      : el("p", { class: "note", text: "no attempt yet" }));
}

async function replay(id, target) {
  const path = `/events/${encodeURIComponent(id)}/replay` + (target ? "?" + query({ target }) : "");
  try {
    const r = await json(path, { method: "POST" });
    $("copied").replaceChildren(el("p", { class: "note", role: "status", text: `replayed ${r.replayed} ${r.replayed === 1 ? "delivery" : "deliveries"}` }));
    showDeliveries(id, true);
    setTimeout(refreshState, 1000);
  } catch (e) {
    // Under the button that was pressed, not in the list's note.
    if (e instanceof Unauthorized) return failed(e);
    $("copied").replaceChildren(el("p", { class: "note", role: "alert", text: "replay failed: " + e.message }));
  }
}

async function copy(text, what, box) {
  const area = el("textarea", { class: "copy", readonly: true, "aria-label": what + " command", text });
  let done = false;
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); done = true; }
  } catch { done = false; }
  box.replaceChildren(el("p", { class: "note", role: "status", text: done ? `copied as ${what}:` : `select and copy (${what}):` }), area);
  if (!done) { area.focus(); area.select(); }
}

function failed(e) {
  if (e instanceof Unauthorized) return askToken(e.message);
  $("list-note").textContent = "error: " + e.message;
}

// ---- the token, and starting --------------------------------------------------------------

function askToken(message) {
  if (ui.live) ui.live.abort();
  $("main").hidden = true;
  $("token-form").hidden = false;
  $("forget").hidden = true;
  $("token-error").textContent = token() ? message : "";
  $("state").textContent = "admin token needed";
  $("token-input").focus();
}

async function start() {
  try {
    await loadFirst();
  } catch (e) {
    if (e instanceof Unauthorized) return askToken(e.message);
    $("main").hidden = false;
    $("list-note").textContent = "error: " + e.message;
    return;
  }
  $("token-form").hidden = true;
  $("main").hidden = false;
  $("forget").hidden = !token();
  measure();
  render();
  performance.mark("hookrelay-interactive");
  startLive();
  refreshState();
  route();
}

function route() {
  const m = /^#event\/(.+)$/.exec(location.hash);
  if (m) showEvent(decodeURIComponent(m[1]));
}

function onTypeChange() {
  clearTimeout(onTypeChange.timer);
  onTypeChange.timer = setTimeout(async () => {
    const type = $("type-filter").value.trim();
    if (type === ui.type) return;
    ui.type = type;
    ui.deliveries.clear();
    $("viewport").scrollTop = 0;
    try { await loadFirst(); startLive(); } catch (e) { failed(e); }
  }, 250);
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    start();
  });
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  $("replay-dead").addEventListener("click", replayDead);
  $("pause").addEventListener("click", togglePause);
  $("type-filter").addEventListener("input", onTypeChange);
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("search").value.trim();
    if (!id) return;
    const hash = "#event/" + encodeURIComponent(id);
    if (location.hash === hash) route(); else location.hash = hash;
  });
  $("viewport").addEventListener("scroll", () => requestAnimationFrame(render), { passive: true });
  $("viewport").addEventListener("keydown", onListKey);
  $("rows").addEventListener("focusin", (e) => {
    const row = e.target.closest && e.target.closest(".row");
    if (!row) return;
    ui.tabStop = Number(row.dataset.seq);
    for (const other of $("rows").children) other.tabIndex = other === row ? 0 : -1;
  });
  $("detail").addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const row = $("rows").querySelector('[aria-current="true"]');
    if (row) row.focus();
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => { measure(); render(); });
  setInterval(() => { if (!$("main").hidden) refreshState(); }, 5000);
  start();
});

// Opening an event moves to its detail (below the list in a narrow window).
window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#event/")) $("detail").focus({ preventScroll: window.innerWidth > 900 });
});
