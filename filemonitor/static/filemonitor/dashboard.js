/*
 * FileMonitor dashboard: polls the REST API about once a second and keeps the table
 * in step with it, without reloading the page. Plain browser JavaScript, no build step.
 *
 * Rows are updated in place (keyed by id), so a button that has keyboard focus keeps
 * it while the numbers around it change. Speed and ETA are computed here, from the
 * successive progress values the API reports and the times it reports them at.
 */
(function () {
  "use strict";

  const main = document.getElementById("main");
  if (!main) return;

  const API = main.dataset.api;
  const CAN_CHANGE = main.dataset.canChange === "true";
  const CAN_DELETE = main.dataset.canDelete === "true";
  const POLL_MS = 1000;
  const HIDDEN_POLL_MS = 5000;
  const SPEED_WINDOW_MS = 8000;
  const STALL_MS = 6000;
  const ACTIVE = ["Queued", "Starting", "Downloading"];
  const STATUS_FILTERS = {
    "": {},
    active: { status__in: ACTIVE.join(",") },
    Queued: { status: "Queued" },
    Downloading: { status: "Downloading" },
    Complete: { status: "Complete" },
    failed: { status__regex: "Error|^Connection Lost$" },
  };

  const $ = (id) => document.getElementById(id);
  const els = {
    rows: $("rows"),
    table: $("downloads"),
    empty: $("empty"),
    count: $("count"),
    range: $("range"),
    prev: $("prev"),
    next: $("next"),
    messages: $("messages"),
    live: $("live"),
    liveText: $("live-text"),
    tag: $("filter-tag"),
    status: $("filter-status"),
    filters: $("filters"),
    addForm: $("add-form"),
    addSubmit: $("add-submit"),
    listTitle: $("list-title"),
    dialog: $("confirm"),
    dialogTitle: $("confirm-title"),
    dialogBody: $("confirm-body"),
    dialogOk: $("confirm-ok"),
  };

  // ---- State -------------------------------------------------------------------

  const query = new URLSearchParams(window.location.search);
  const state = {
    limit: clampInt(query.get("limit"), 1, 1000, Number(main.dataset.pageSize) || 20),
    offset: clampInt(query.get("offset"), 0, Number.MAX_SAFE_INTEGER, 0),
    tag: query.get("tag") || "",
    status: query.get("status") in STATUS_FILTERS ? query.get("status") : "",
    total: 0,
  };
  const rows = new Map(); // id -> {tr, cells..., data, actionsKey}
  const samples = new Map(); // id -> [{t, p, seen}] progress history for speed and ETA
  let generation = 0; // bumped by every request and mutation: late answers are ignored
  let timer = null;
  let lastOk = 0;
  let connectionError = null;

  els.tag.value = state.tag;
  els.status.value = state.status;

  // ---- Formatting ----------------------------------------------------------------

  function clampInt(value, min, max, fallback) {
    const n = Number.parseInt(value, 10);
    return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
  }

  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

  function formatBytes(bytes) {
    if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < UNITS.length - 1) {
      value /= 1024;
      unit += 1;
    }
    const digits = unit === 0 || value >= 100 ? 0 : 1;
    return `${value.toFixed(digits)} ${UNITS[unit]}`;
  }

  function formatDuration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "";
    if (seconds < 1) return "<1 s";
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  function formatAgo(date) {
    const seconds = (Date.now() - date.getTime()) / 1000;
    if (!Number.isFinite(seconds)) return "";
    if (seconds < 45) return "just now";
    if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
    return date.toLocaleDateString();
  }

  function toInt(value) {
    if (value === null || value === undefined || value === "") return null;
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }

  function isFailure(status) {
    return status.includes("Error") || status === "Connection Lost";
  }

  function statusKind(status) {
    if (status === "Complete") return "complete";
    if (isFailure(status)) return "failed";
    if (status === "Queued" || status === "Starting") return "queued";
    if (status === "Downloading") return "active";
    return "idle";
  }

  function displayName(row) {
    if (row.name) return row.name;
    try {
      const path = new URL(row.url).pathname.split("/").filter(Boolean);
      return decodeURIComponent(path[path.length - 1] || row.url);
    } catch (e) {
      return row.url;
    }
  }

  function splitTags(tags) {
    return (tags || "")
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
  }

  // ---- Speed and ETA -------------------------------------------------------------

  function recordSample(row) {
    const p = toInt(row.progress) || 0;
    const now = Date.now();
    let t = Date.parse(row.updated);
    if (!Number.isFinite(t)) t = now;
    let history = samples.get(row.id) || [];
    const last = history[history.length - 1];
    if (last && (p < last.p || t < last.t)) history = []; // re-queued or restarted
    if (!last || history.length === 0 || t > last.t) {
      history.push({ t, p, seen: now });
    }
    while (history.length > 2 && history[history.length - 1].t - history[0].t > SPEED_WINDOW_MS) {
      history.shift();
    }
    samples.set(row.id, history);
    return history;
  }

  /** Bytes per second over the recent window, 0 when stalled, null when not yet known. */
  function speedOf(row) {
    const history = samples.get(row.id) || [];
    if (history.length < 2) return null;
    const first = history[0];
    const last = history[history.length - 1];
    const lastChange = history.findLast((s, i) => i === 0 || s.p !== history[i - 1].p);
    if (Date.now() - lastChange.seen > STALL_MS) return 0;
    const seconds = (last.t - first.t) / 1000;
    if (seconds < 0.5) return null;
    return (last.p - first.p) / seconds;
  }

  // ---- Messages (the aria-live region) -------------------------------------------

  function announce(text, kind) {
    const box = document.createElement("div");
    box.className = `message message--${kind || "info"}`;
    const body = document.createElement("p");
    body.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "message__close";
    close.setAttribute("aria-label", "Dismiss message");
    close.textContent = "×";
    close.addEventListener("click", () => box.remove());
    box.append(body, close);
    els.messages.append(box);
    while (els.messages.children.length > 3) els.messages.firstElementChild.remove();
    if (kind !== "error") setTimeout(() => box.remove(), 6000);
    return box;
  }

  function clearErrors() {
    for (const box of els.messages.querySelectorAll(".message--error")) box.remove();
  }

  // ---- API -----------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  function csrfToken() {
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function errorMessage(response) {
    let detail = "";
    try {
      const data = JSON.parse(await response.text());
      detail = (data && (data.error || data.error_message)) || "";
    } catch (e) {
      detail = "";
    }
    if (detail) return String(detail);
    if (response.status === 401 || response.status === 403) {
      return "Not allowed: your session may have ended. Reload the page to sign in again.";
    }
    if (response.status === 404) return "That download no longer exists.";
    return `The server answered ${response.status} ${response.statusText}`.trim() + ".";
  }

  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    let response;
    try {
      response = await fetch(url, init);
    } catch (e) {
      throw new ApiError("Cannot reach the server. Check your connection.", 0);
    }
    if (!response.ok) throw new ApiError(await errorMessage(response), response.status);
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // ---- Rendering -----------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  /** Text that may wrap after ".", "_" or "-" (long file names) rather than mid-word. */
  function setBreakableText(node, text) {
    if (node.dataset.text === text) return;
    node.dataset.text = text;
    const parts = text.split(/(?<=[._-])/);
    node.replaceChildren(...parts.flatMap((part, i) => (i ? [el("wbr"), part] : [part])));
  }

  function setAttr(node, name, value) {
    if (value === null) {
      if (node.hasAttribute(name)) node.removeAttribute(name);
    } else if (node.getAttribute(name) !== String(value)) {
      node.setAttribute(name, value);
    }
  }

  function cell(label, className) {
    const td = el("td", className);
    td.dataset.label = label;
    return td;
  }

  function createRow(id) {
    const tr = el("tr", "row");
    tr.dataset.id = id;

    const file = cell("File", "col-file");
    const name = el("span", "file__name");
    const url = el("a", "file__url");
    url.rel = "noreferrer noopener";
    const added = el("span", "file__added");
    file.append(name, url, added);

    const statusCell = cell("Status", "col-status");
    const status = el("span", "status");
    statusCell.append(status);

    const progressCell = cell("Progress", "col-progress");
    const bar = el("div", "bar");
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    const fill = el("div", "bar__fill");
    bar.append(fill);
    const meta = el("div", "progress__meta");
    const percent = el("span", "percent");
    const rate = el("span", "rate");
    meta.append(percent, rate);
    progressCell.append(bar, meta);

    // Each cell holds one element: on narrow screens a cell is a two-column grid
    // (its label, then this element).
    const sizeCell = cell("Size", "col-size");
    const size = el("span", "size");
    sizeCell.append(size);
    const tagsCell = cell("Tags", "col-tags");
    const tags = el("div", "tags");
    tagsCell.append(tags);
    const md5Cell = cell("MD5", "col-md5");
    const md5 = el("code", "md5");
    md5Cell.append(md5);
    const actionsCell = cell("Actions", "col-actions");
    const actions = el("div", "actions");
    actionsCell.append(actions);

    tr.append(file, statusCell, progressCell, sizeCell, tagsCell, md5Cell, actionsCell);
    return { tr, name, url, added, status, bar, fill, percent, rate, size, tags, md5, actions };
  }

  function progressView(row, kind) {
    const size = toInt(row.size);
    const progress = toInt(row.progress) || 0;
    const known = size !== null && size > 0;
    const pct = kind === "complete" ? 100 : known ? Math.min(100, (100 * progress) / size) : null;
    const view = { pct, percent: "", rate: "", valuetext: "" };
    if (pct !== null) view.percent = `${pct >= 99.95 || pct === 0 ? pct.toFixed(0) : pct.toFixed(1)}%`;

    if (kind === "active") {
      const speed = speedOf(row);
      const done = known ? `${formatBytes(progress)} of ${formatBytes(size)}` : `${formatBytes(progress)} so far`;
      if (pct === null) view.percent = formatBytes(progress);
      if (speed === null) {
        view.rate = "measuring speed…";
      } else if (speed === 0) {
        view.rate = "stalled";
      } else {
        view.rate = `${formatBytes(speed)}/s`;
        if (known) view.rate += ` · ${formatDuration((size - progress) / speed)} left`;
      }
      view.valuetext = `${view.percent}, ${done}${speed ? `, ${view.rate}` : ""}`;
    } else if (kind === "complete") {
      const seconds = (Date.parse(row.updated) - Date.parse(row.created)) / 1000;
      view.rate = seconds > 0 ? `done in ${formatDuration(seconds)}` : "done";
      view.valuetext = "100%, complete";
    } else if (kind === "queued") {
      view.percent = view.percent || "0%";
      view.rate = row.status === "Starting" ? "starting…" : "waiting for a worker";
      view.valuetext = view.rate;
    } else if (kind === "failed") {
      view.rate = progress ? `stopped at ${formatBytes(progress)}` : "no data received";
      view.valuetext = `failed, ${view.rate}`;
    } else {
      view.rate = "not started";
      view.valuetext = "not started";
    }
    return view;
  }

  function actionsFor(row, kind) {
    const list = [];
    if (CAN_CHANGE && (kind === "failed" || kind === "idle")) list.push("retry");
    if (CAN_DELETE) list.push(kind === "active" || kind === "queued" ? "cancel" : "delete");
    return list;
  }

  const ACTION_LABELS = { retry: "Retry", cancel: "Cancel", delete: "Delete" };

  function renderActions(view, row, kind) {
    const list = actionsFor(row, kind);
    const key = list.join(",");
    const name = displayName(row);
    if (view.actionsKey !== key) {
      const focused = view.actions.contains(document.activeElement);
      view.actions.replaceChildren(
        ...list.map((action) => {
          const button = el("button", `button button--small button--${action}`, ACTION_LABELS[action]);
          button.type = "button";
          button.dataset.action = action;
          button.dataset.id = row.id;
          return button;
        }),
      );
      view.actionsKey = key;
      if (focused && view.actions.firstElementChild) view.actions.firstElementChild.focus();
    }
    for (const button of view.actions.children) {
      setAttr(button, "aria-label", `${ACTION_LABELS[button.dataset.action]} ${name}`);
    }
  }

  function renderTags(view, row) {
    if (view.tagsKey === row.tags) return;
    view.tagsKey = row.tags;
    const tags = splitTags(row.tags);
    if (!tags.length) {
      view.tags.replaceChildren(el("span", "muted", "—"));
      return;
    }
    view.tags.replaceChildren(
      ...tags.map((tag) => {
        const chip = el("button", "tag", tag);
        chip.type = "button";
        chip.dataset.tag = tag;
        chip.setAttribute("aria-label", `Show only downloads tagged ${tag}`);
        return chip;
      }),
    );
  }

  function updateRow(view, row) {
    const kind = statusKind(row.status);
    view.data = row;
    setAttr(view.tr, "class", `row row--${kind}`);
    setAttr(view.tr, "data-status", row.status);

    const name = displayName(row);
    setBreakableText(view.name, name);
    setText(view.url, row.url);
    setAttr(view.url, "href", /^https?:\/\//i.test(row.url) ? row.url : null);
    setAttr(view.url, "title", row.url);
    const created = new Date(row.created);
    setText(view.added, Number.isNaN(created.getTime()) ? "" : `added ${formatAgo(created)}`);
    setAttr(view.added, "title", Number.isNaN(created.getTime()) ? null : created.toLocaleString());

    setText(view.status, row.status || "New");
    setAttr(view.status, "class", `status status--${kind}${kind === "failed" ? " is-error" : ""}`);
    setAttr(view.status, "title", row.status || "Not started");

    const p = progressView(row, kind);
    const indeterminate = p.pct === null && kind === "active";
    setAttr(view.bar, "class", `bar bar--${kind}${indeterminate ? " bar--indeterminate" : ""}`);
    setAttr(view.bar, "aria-valuenow", p.pct === null ? null : p.pct.toFixed(1));
    setAttr(view.bar, "aria-valuetext", p.valuetext);
    setAttr(view.bar, "aria-label", `Progress of ${name}`);
    view.fill.style.width = indeterminate ? "" : `${p.pct || 0}%`;
    setText(view.percent, p.percent);
    setText(view.rate, p.rate);

    const size = toInt(row.size);
    setText(view.size, formatBytes(size));
    setAttr(view.size, "title", size === null ? "Size not known yet" : `${size.toLocaleString()} bytes`);

    renderTags(view, row);
    setText(view.md5, row.md5sum || "—");
    setAttr(view.md5, "class", row.md5sum ? "md5" : "md5 muted");
    setAttr(view.md5, "title", row.md5sum ? (kind === "complete" ? "MD5 of the file" : "Expected MD5") : null);

    renderActions(view, row, kind);
  }

  function render(payload) {
    const objects = payload.objects || [];
    const meta = payload.meta || {};
    state.total = meta.total_count || 0;
    const seen = new Set();
    const focusedRow = document.activeElement && document.activeElement.closest("tr[data-id]");

    objects.forEach((row, index) => {
      seen.add(row.id);
      recordSample(row);
      let view = rows.get(row.id);
      if (!view) {
        view = createRow(row.id);
        rows.set(row.id, view);
      }
      updateRow(view, row);
      // Move a row only when it is out of place: moving the focused row would blur it.
      if (els.rows.children[index] !== view.tr) {
        els.rows.insertBefore(view.tr, els.rows.children[index] || null);
      }
    });
    for (const [id, view] of rows) {
      if (!seen.has(id)) removeRow(id, view, focusedRow);
    }
    els.table.setAttribute("aria-busy", "false");
    renderPager(objects.length);
  }

  function removeRow(id, view, focusedRow) {
    const hadFocus = focusedRow === view.tr;
    const neighbour = view.tr.nextElementSibling || view.tr.previousElementSibling;
    view.tr.remove();
    rows.delete(id);
    samples.delete(id);
    if (hadFocus) {
      const target = neighbour && neighbour.querySelector("button");
      (target || els.listTitle).focus();
    }
  }

  function filtered() {
    return Boolean(state.tag || state.status);
  }

  function renderPager(shown) {
    const first = shown ? state.offset + 1 : 0;
    const last = state.offset + shown;
    setText(els.count, state.total ? `(${state.total.toLocaleString()})` : "");
    setText(els.range, shown ? `${first}–${last} of ${state.total.toLocaleString()}` : "");
    els.prev.disabled = state.offset <= 0;
    els.next.disabled = last >= state.total;
    els.empty.hidden = shown > 0;
    setText(
      els.empty,
      filtered() ? "No downloads match these filters." : "No downloads yet. Add a URL above to start one.",
    );
  }

  function setLive(kind, text) {
    els.live.dataset.state = kind;
    setText(els.liveText, text);
  }

  // ---- Polling -------------------------------------------------------------------

  function listUrl() {
    const params = new URLSearchParams({ limit: state.limit, offset: state.offset });
    if (state.tag) params.set("tags__icontains", state.tag);
    for (const [key, value] of Object.entries(STATUS_FILTERS[state.status] || {})) {
      params.set(key, value);
    }
    return `${API}?${params}`;
  }

  async function refresh() {
    clearTimeout(timer);
    const mine = ++generation;
    try {
      const payload = await api("GET", listUrl());
      if (mine !== generation) return;
      const total = (payload.meta && payload.meta.total_count) || 0;
      if (state.offset > 0 && state.offset >= total) {
        // The page emptied (rows deleted elsewhere): go back to the last page that has rows.
        state.offset = Math.max(0, Math.floor((total - 1) / state.limit) * state.limit);
        syncLocation();
        refresh();
        return;
      }
      render(payload);
      lastOk = Date.now();
      if (connectionError) {
        connectionError.remove();
        connectionError = null;
        announce("Connection restored.", "ok");
      }
      setLive("ok", `Live · updated ${new Date(lastOk).toLocaleTimeString()}`);
    } catch (error) {
      if (mine !== generation) return;
      setLive("error", lastOk ? `Offline · last update ${new Date(lastOk).toLocaleTimeString()}` : "Offline");
      if (!connectionError || !connectionError.isConnected) {
        connectionError = announce(`Cannot refresh the list: ${error.message} Retrying…`, "error");
      }
    }
    if (mine === generation) schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });

  function syncLocation() {
    const params = new URLSearchParams(window.location.search);
    const set = (key, value, empty) => (value === empty ? params.delete(key) : params.set(key, value));
    set("tag", state.tag, "");
    set("status", state.status, "");
    set("offset", String(state.offset), "0");
    const search = params.toString();
    window.history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
  }

  // ---- Filters and pages ---------------------------------------------------------

  let tagTimer = null;
  els.tag.addEventListener("input", () => {
    clearTimeout(tagTimer);
    tagTimer = setTimeout(applyFilters, 250);
  });
  els.status.addEventListener("change", applyFilters);
  els.filters.addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters();
  });

  function applyFilters() {
    clearTimeout(tagTimer);
    const tag = els.tag.value.trim();
    if (tag === state.tag && els.status.value === state.status) return;
    state.tag = tag;
    state.status = els.status.value;
    state.offset = 0;
    els.table.setAttribute("aria-busy", "true");
    syncLocation();
    refresh();
  }

  function goTo(offset) {
    state.offset = Math.max(0, offset);
    syncLocation();
    refresh();
  }

  els.prev.addEventListener("click", () => goTo(state.offset - state.limit));
  els.next.addEventListener("click", () => goTo(state.offset + state.limit));

  // ---- Actions -------------------------------------------------------------------

  function confirmAction(title, body, okLabel) {
    if (typeof els.dialog.showModal !== "function") return Promise.resolve(window.confirm(body));
    return new Promise((resolve) => {
      const opener = document.activeElement;
      setText(els.dialogTitle, title);
      setText(els.dialogBody, body);
      setText(els.dialogOk, okLabel);
      els.dialog.returnValue = "";
      els.dialog.addEventListener(
        "close",
        () => {
          if (opener && opener.isConnected) opener.focus();
          resolve(els.dialog.returnValue === "confirm");
        },
        { once: true },
      );
      els.dialog.showModal();
    });
  }

  async function removeDownload(view, action) {
    const row = view.data;
    const name = displayName(row);
    const ok = await confirmAction(
      action === "cancel" ? `Cancel ${name}?` : `Delete ${name}?`,
      action === "cancel"
        ? "The download stops and its partial file is removed. This cannot be undone."
        : "The entry and its downloaded file are removed from the server. This cannot be undone.",
      action === "cancel" ? "Cancel download" : "Delete",
    );
    if (!ok) return;
    generation += 1; // a list fetched before this DELETE must not bring the row back
    try {
      await api("DELETE", row.resource_uri);
      clearErrors();
      announce(action === "cancel" ? `Cancelled ${name}.` : `Deleted ${name}.`, "ok");
      const focused = document.activeElement && document.activeElement.closest("tr[data-id]");
      if (rows.has(row.id)) removeRow(row.id, view, focused);
    } catch (error) {
      announce(`Could not ${action} ${name}: ${error.message}`, "error");
    }
    refresh();
  }

  async function retryDownload(view) {
    const row = view.data;
    const name = displayName(row);
    generation += 1;
    try {
      const updated = await api("POST", `${row.resource_uri}download/`);
      clearErrors();
      announce(`Queued ${name} again.`, "ok");
      if (updated && rows.has(row.id)) {
        samples.delete(row.id);
        updateRow(view, updated);
      }
    } catch (error) {
      announce(`Could not retry ${name}: ${error.message}`, "error");
    }
    refresh();
  }

  els.rows.addEventListener("click", (event) => {
    const tagButton = event.target.closest("button[data-tag]");
    if (tagButton) {
      els.tag.value = tagButton.dataset.tag;
      applyFilters();
      return;
    }
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const view = rows.get(Number(button.dataset.id));
    if (!view) return;
    if (button.dataset.action === "retry") retryDownload(view);
    else removeDownload(view, button.dataset.action);
  });

  if (els.addForm) {
    els.addForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!els.addForm.reportValidity()) return;
      const form = new FormData(els.addForm);
      const body = { url: String(form.get("url")).trim() };
      for (const field of ["name", "tags", "md5sum"]) {
        const value = String(form.get(field) || "").trim();
        if (value) body[field] = value;
      }
      els.addSubmit.disabled = true;
      els.addSubmit.textContent = "Adding…";
      generation += 1;
      try {
        await api("POST", API, body);
        clearErrors();
        announce(`Queued ${body.name || displayName({ url: body.url })}.`, "ok");
        els.addForm.reset();
        if (state.offset !== 0) {
          state.offset = 0;
          syncLocation();
        }
      } catch (error) {
        announce(`Could not add the download: ${error.message}`, "error");
      } finally {
        els.addSubmit.disabled = false;
        els.addSubmit.textContent = "Add download";
      }
      refresh();
    });
  }

  refresh();
})();
