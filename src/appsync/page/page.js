// The page: search the caller's synced operations, open one, start a sync and follow it.
//
// Everything shown comes from this service's REST API and is written into the page as text
// (textContent, never HTML): spec text is hostile input. The Content-Security-Policy's Trusted
// Types rule makes any HTML sink throw, so a mistake here fails loudly instead of running code.

import {
  call,
  operationPath,
  searchPath,
  statusPath,
  storeToken,
  storedToken,
} from "./api.js";

const DEBOUNCE_MS = 200;
const POLL_MS = 750;
const INDEXING_PATIENCE_MS = 20_000; // after a sync ends, how long the indexed count may stand still
// A cancelled or skipped sync's message names the other sync from the journal, which that sync
// writes when it starts: a moment after this one ended. The page reads a little longer.
const SETTLE_MS = 3_000;
const SETTLING = new Set(["cancelled", "skipped"]);
const MAX_POLL_FAILURES = 40;
const FOLLOWED_KEY = "appsync.sync";
const ENDED = new Set(["completed", "failed", "cancelled", "skipped", "stalled"]);
const METHODS = new Set(["get", "post", "put", "patch", "delete", "head", "options", "trace"]);
const STATE_LABELS = {
  queued: "Queued",
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  skipped: "Skipped",
  stalled: "Stalled",
};

const $ = (id) => document.getElementById(id);
const view = {
  syncNow: $("sync-now"),
  signin: $("signin"),
  signinMessage: $("signin-message"),
  tokenForm: $("token-form"),
  token: $("token"),
  forgetToken: $("forget-token"),
  tokenState: $("token-state"),
  sync: $("sync"),
  syncId: $("sync-id"),
  syncState: $("sync-state"),
  syncSpecs: $("sync-specs"),
  syncSpecsText: $("sync-specs-text"),
  syncIndexed: $("sync-indexed"),
  syncIndexedText: $("sync-indexed-text"),
  syncSpecList: $("sync-spec-list"),
  syncMessage: $("sync-message"),
  searchForm: $("search-form"),
  q: $("q"),
  service: $("service"),
  method: $("method"),
  searchStatus: $("search-status"),
  results: $("results"),
  cardPlaceholder: $("card-placeholder"),
  cardBody: $("card-body"),
  servicesStatus: $("services-status"),
  servicesList: $("services-list"),
};

const state = {
  generation: 0, // bumped when the credentials change: answers for the previous user are dropped
  services: null,
  searchSeq: 0,
  searchAbort: null,
  searchTimer: 0,
  retryTimer: 0,
  cardSeq: 0,
  openedFrom: null,
  follow: null,
  ready: false,
};

// Builds an element; its content is only ever text.
function el(tag, { cls, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  for (const [name, value] of Object.entries(attrs || {})) {
    node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child) {
      node.append(child);
    }
  }
  return node;
}

function methodBadge(method) {
  const name = String(method || "").toLowerCase();
  const kind = METHODS.has(name) ? name : "other";
  return el("span", { cls: `method method-${kind}`, text: name.toUpperCase() });
}

function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

function formatTime(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) {
    return "";
  }
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(
    moment,
  );
}

function markReady() {
  if (!state.ready) {
    state.ready = true;
    performance.mark("appsync:ready");
    document.body.dataset.ready = "true";
  }
}

// ---- identity ----------------------------------------------------------------------------

function forgetData() {
  state.generation += 1;
  state.services = null;
  state.searchAbort?.abort();
  clearTimeout(state.searchTimer);
  clearTimeout(state.retryTimer);
  stopFollowing();
  sessionStorage.removeItem(FOLLOWED_KEY);
  view.sync.hidden = true;
  view.results.replaceChildren();
  view.searchStatus.textContent = "";
  view.servicesList.replaceChildren();
  view.servicesStatus.textContent = "";
  fillServiceFilter([]);
  closeCard(false);
}

function onUnauthorized(failure) {
  const wasHidden = view.signin.hidden;
  forgetData();
  const reason = failure.detail ? ` (${failure.detail.replace(/[.\s]+$/, "")})` : "";
  view.signinMessage.textContent = storedToken()
    ? `The token was refused${reason}. Paste a valid token, or forget it to use the app's session cookie instead.`
    : `Sign in to see your operations: this service needs credentials${reason}. Paste a bearer token below, or sign in to the app on this site so that its session cookie is sent.`;
  view.signin.hidden = false;
  view.servicesStatus.textContent = "Sign in to see your synced services.";
  markReady();
  if (wasHidden) {
    view.token.focus();
  }
}

function signedIn() {
  view.signin.hidden = true;
  view.signinMessage.textContent = "";
}

function showTokenState() {
  const using = Boolean(storedToken());
  view.tokenState.hidden = !using;
  view.forgetToken.hidden = !using;
}

function reloadAs(token) {
  storeToken(token);
  showTokenState();
  view.token.value = "";
  forgetData();
  loadServices();
  if (view.q.value.trim()) {
    runSearch();
  }
}

view.tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = view.token.value.trim().replace(/^Bearer\s+/i, "");
  if (token) {
    reloadAs(token);
  } else {
    view.token.focus();
  }
});
view.forgetToken.addEventListener("click", () => reloadAs(""));

// A failure of any call: 401 asks for credentials; anything else is shown where it happened.
function failed(failure, where) {
  if (failure.name === "AbortError") {
    return;
  }
  if (failure.status === 401) {
    onUnauthorized(failure);
    return;
  }
  where.textContent = failure.sentence || "Something went wrong in the page: reload it.";
}

// ---- services ----------------------------------------------------------------------------

async function loadServices() {
  const generation = state.generation;
  view.servicesStatus.textContent = "Loading your synced services…";
  try {
    const answer = await call("GET", "/api/services", { action: "list of services" });
    if (generation !== state.generation) {
      return;
    }
    signedIn();
    renderServices(Array.isArray(answer.services) ? answer.services : []);
  } catch (failure) {
    if (generation === state.generation) {
      failed(failure, view.servicesStatus);
    }
  }
  markReady();
}

function renderServices(services) {
  state.services = services;
  view.servicesList.replaceChildren(
    ...services.map((spec) => {
      const when = spec.lastSync && spec.lastSync.at ? formatTime(spec.lastSync.at) : "";
      return el("li", { cls: "service" }, [
        el("span", { cls: "service-name", text: spec.service }),
        el("span", { cls: "version", text: spec.version }),
        el("span", { cls: "count", text: plural(spec.operations, "operation") }),
        when
          ? el("span", { cls: "when", text: "synced " }, [
              el("time", { text: when, attrs: { datetime: spec.lastSync.at } }),
            ])
          : null,
        el("span", { cls: "spec-url mono", text: spec.specUrl }),
      ]);
    }),
  );
  const operations = services.reduce((sum, spec) => sum + (spec.operations || 0), 0);
  view.servicesStatus.textContent = services.length
    ? `${plural(services.length, "spec")}, ${plural(operations, "operation")}.`
    : "Nothing synced yet.";
  fillServiceFilter(services.map((spec) => spec.service));
  if (!view.q.value.trim()) {
    showIdle();
  }
}

function fillServiceFilter(names) {
  const chosen = view.service.value;
  const unique = [...new Set(names)].sort((a, b) => a.localeCompare(b));
  view.service.replaceChildren(
    el("option", { text: "All services", attrs: { value: "" } }),
    ...unique.map((name) => el("option", { text: name, attrs: { value: name } })),
  );
  view.service.value = unique.includes(chosen) ? chosen : "";
}

// ---- search ------------------------------------------------------------------------------

const EMPTY_INDEX =
  "Your index is empty: press Sync now to sync the specs in the service's settings " +
  "(APPSYNC_OPENAPI_URLS; by default the service's own /openapi.json), then search here.";

function showIdle() {
  view.results.replaceChildren();
  if (state.services && state.services.length === 0) {
    view.searchStatus.textContent = EMPTY_INDEX;
  } else {
    view.searchStatus.textContent = "";
  }
}

function scheduleSearch(delay) {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(runSearch, delay);
}

async function runSearch() {
  clearTimeout(state.searchTimer);
  clearTimeout(state.retryTimer);
  state.searchAbort?.abort();
  const seq = ++state.searchSeq;
  const query = view.q.value.trim();
  if (!query) {
    showIdle();
    return;
  }
  const controller = new AbortController();
  state.searchAbort = controller;
  const generation = state.generation;
  const filters = { service: view.service.value, method: view.method.value };
  try {
    const answer = await call("GET", searchPath(query, filters), {
      action: "search",
      signal: controller.signal,
    });
    if (seq !== state.searchSeq || generation !== state.generation) {
      return;
    }
    signedIn();
    renderResults(query, filters, Array.isArray(answer.results) ? answer.results : []);
  } catch (failure) {
    if (seq !== state.searchSeq || generation !== state.generation) {
      return;
    }
    view.results.replaceChildren();
    failed(failure, view.searchStatus);
    if (failure.status === 503 && failure.retryAfter !== null) {
      state.retryTimer = setTimeout(() => {
        if (seq === state.searchSeq) {
          runSearch();
        }
      }, failure.retryAfter * 1000);
    }
  }
}

function renderResults(query, filters, results) {
  view.results.replaceChildren(...results.map(resultItem));
  const filtered = filters.service || filters.method ? " with these filters" : "";
  if (results.length) {
    view.searchStatus.textContent = `${plural(results.length, "operation")} found for “${query}”${filtered}, best first.`;
  } else if (state.services && state.services.length === 0) {
    view.searchStatus.textContent = EMPTY_INDEX;
  } else {
    view.searchStatus.textContent = `No operation matches “${query}”${filtered}.`;
  }
  performance.mark("appsync:results");
}

function resultItem(hit) {
  const button = el("button", { cls: "result", attrs: { type: "button", "aria-controls": "card" } }, [
    el("span", { cls: "result-line" }, [
      methodBadge(hit.method),
      el("code", { cls: "path", text: hit.path }),
      hit.deprecated ? el("span", { cls: "deprecated", text: "deprecated" }) : null,
    ]),
    el("span", { cls: "summary", text: hit.summary || hit.operationId || "No summary." }),
    el("span", { cls: "result-meta" }, [
      el("span", { cls: "service-name", text: `${hit.service} ${hit.version}` }),
      ...(Array.isArray(hit.tags) ? hit.tags : []).map((tag) =>
        el("span", { cls: "tag", text: tag }),
      ),
    ]),
  ]);
  button.addEventListener("click", () => openOperation(hit.uid, button));
  return el("li", {}, [button]);
}

view.searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  runSearch();
});
view.q.addEventListener("input", () => {
  performance.mark("appsync:input");
  scheduleSearch(DEBOUNCE_MS);
});
view.service.addEventListener("change", () => runSearch());
view.method.addEventListener("change", () => runSearch());

// Arrow keys move between the search box and the results; Tab works as everywhere.
view.q.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown") {
    const first = view.results.querySelector("button.result");
    if (first) {
      event.preventDefault();
      first.focus();
    }
  }
});
view.results.addEventListener("keydown", (event) => {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") {
    return;
  }
  const buttons = [...view.results.querySelectorAll("button.result")];
  const at = buttons.indexOf(document.activeElement);
  if (at < 0) {
    return;
  }
  event.preventDefault();
  const next = at + (event.key === "ArrowDown" ? 1 : -1);
  if (next < 0) {
    view.q.focus();
  } else if (next < buttons.length) {
    buttons[next].focus();
  }
});

// ---- an operation's card -----------------------------------------------------------------

async function openOperation(uid, from) {
  const seq = ++state.cardSeq;
  const generation = state.generation;
  for (const other of view.results.querySelectorAll("button.result[aria-current]")) {
    other.removeAttribute("aria-current");
  }
  from.setAttribute("aria-current", "true");
  state.openedFrom = from;
  view.cardPlaceholder.hidden = true;
  view.cardBody.hidden = false;
  view.cardBody.replaceChildren(el("p", { cls: "status", text: "Loading the operation…" }));
  try {
    const card = await call("GET", operationPath(uid), { action: "operation" });
    if (seq !== state.cardSeq || generation !== state.generation) {
      return;
    }
    renderCard(card);
    $("card-title").focus();
  } catch (failure) {
    if (seq !== state.cardSeq || generation !== state.generation) {
      return;
    }
    const where = el("p", { cls: "status error", attrs: { role: "alert" } });
    view.cardBody.replaceChildren(where);
    failed(failure, where);
  }
}

function closeCard(returnFocus = true) {
  state.cardSeq += 1;
  view.cardBody.replaceChildren();
  view.cardBody.hidden = true;
  view.cardPlaceholder.hidden = false;
  const from = state.openedFrom;
  state.openedFrom = null;
  if (from) {
    from.removeAttribute("aria-current");
    if (returnFocus && from.isConnected) {
      from.focus();
    }
  }
}

function table(caption, headings, rows) {
  return el("table", {}, [
    el("caption", { cls: "visually-hidden", text: caption }),
    el("thead", {}, [el("tr", {}, headings.map((h) => el("th", { text: h, attrs: { scope: "col" } })))]),
    el(
      "tbody",
      {},
      rows.map((cells) =>
        el(
          "tr",
          {},
          cells.map((cell, i) =>
            i === 0
              ? el("th", { attrs: { scope: "row" } }, [el("code", { text: cell })])
              : el("td", { text: cell }),
          ),
        ),
      ),
    ),
  ]);
}

function renderCard(card) {
  const parameters = Array.isArray(card.parameters) ? card.parameters : [];
  const body = card.requestBody;
  const responses = Object.entries(card.responses || {});
  const security = Array.isArray(card.security) ? card.security : [];
  const notes = Array.isArray(card.notes) ? card.notes : [];
  const close = el("button", { cls: "close", text: "Close", attrs: { type: "button" } });
  close.addEventListener("click", () => closeCard());

  const parts = [
    el("div", { cls: "card-head" }, [
      el("h2", { attrs: { id: "card-title", tabindex: "-1" } }, [
        methodBadge(card.method),
        el("code", { cls: "path", text: card.path }),
      ]),
      close,
    ]),
    el("p", { cls: "summary", text: card.summary || "No summary." }),
    card.deprecated
      ? el("p", { cls: "deprecated-note", text: "Deprecated: the spec says not to use this operation." })
      : null,
    el("dl", { cls: "facts" }, [
      el("dt", { text: "URL" }),
      el("dd", {}, [el("code", { cls: "url", text: `${card.method} ${card.url}` })]),
      el("dt", { text: "Service" }),
      el("dd", { text: `${card.service} ${card.version}` }),
      card.operationId ? el("dt", { text: "Operation id" }) : null,
      card.operationId ? el("dd", {}, [el("code", { text: card.operationId })]) : null,
      el("dt", { text: "Security" }),
      el("dd", { text: security.length ? security.join(", ") : "none declared" }),
    ]),
    card.description ? el("p", { cls: "description", text: card.description }) : null,
    el("h3", { text: "Parameters" }),
    parameters.length
      ? table(
          "Parameters",
          ["Name", "In", "Type", "Required", "Description"],
          parameters.map((p) => [p.name, p.in, p.type, p.required ? "required" : "optional", p.description]),
        )
      : el("p", { cls: "hint", text: "None." }),
    el("h3", { text: "Request body" }),
    ...(body ? bodyParts(body) : [el("p", { cls: "hint", text: "None." })]),
    el("h3", { text: "Responses" }),
    responses.length
      ? table(
          "Responses",
          ["Status", "Description", "Media types", "Fields"],
          responses.map(([code, r]) => [
            code,
            r.description,
            (r.mediaTypes || []).join(", "),
            (r.fields || []).join(", "),
          ]),
        )
      : el("p", { cls: "hint", text: "None described." }),
    notes.length ? el("h3", { text: "Notes" }) : null,
    notes.length ? el("ul", { cls: "notes" }, notes.map((note) => el("li", { text: note }))) : null,
  ];
  view.cardBody.replaceChildren(...parts.filter(Boolean));
}

function bodyParts(body) {
  const fields = Array.isArray(body.fields) ? body.fields : [];
  const media = (body.mediaTypes || []).join(", ") || "no media type";
  return [
    el("p", { text: `${body.required ? "Required" : "Optional"}, as ${media}.` }),
    fields.length
      ? table(
          "Request body fields",
          ["Field", "Type", "Required", "Description"],
          fields.map((f) => [f.name, f.type, f.required ? "required" : "optional", f.description]),
        )
      : el("p", { cls: "hint", text: "No fields described." }),
  ];
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !view.cardBody.hidden && view.cardBody.contains(document.activeElement)) {
    closeCard();
  }
});

// ---- sync --------------------------------------------------------------------------------

async function startSync() {
  const generation = state.generation;
  view.syncNow.disabled = true;
  stopFollowing();
  showSync("", "Sending the sync to the Inngest server…");
  try {
    const answer = await call("POST", "/api/openapi/sync", { action: "sync" });
    if (generation === state.generation) {
      signedIn();
      follow(answer.ids[0]);
    }
  } catch (failure) {
    if (generation === state.generation) {
      view.sync.dataset.state = "error";
      failed(failure, view.syncState);
    }
  } finally {
    view.syncNow.disabled = false;
  }
}

function showSync(id, line) {
  view.sync.hidden = false;
  view.sync.dataset.state = "starting";
  view.syncId.textContent = id;
  view.syncState.textContent = line;
  view.syncSpecs.max = 1;
  view.syncSpecs.value = 0;
  view.syncSpecsText.textContent = "";
  view.syncIndexed.max = 1;
  view.syncIndexed.value = 0;
  view.syncIndexedText.textContent = "";
  view.syncSpecList.replaceChildren();
  view.syncMessage.textContent = "";
}

function stopFollowing() {
  if (state.follow) {
    clearTimeout(state.follow.timer);
    state.follow = null;
  }
}

function follow(id) {
  stopFollowing();
  sessionStorage.setItem(FOLLOWED_KEY, id);
  showSync(id, "Waiting for the Inngest server to start the sync…");
  state.follow = { id, timer: 0, failures: 0, indexed: -1, movedAt: Date.now(), endedAt: 0 };
  poll(state.follow);
}

async function poll(followed) {
  let status;
  try {
    status = await call("GET", statusPath(followed.id), { action: "sync's status" });
  } catch (failure) {
    if (state.follow !== followed) {
      return;
    }
    if (failure.status === 401 || failure.status === 404) {
      finish(followed, false);
      view.sync.dataset.state = "error";
      failed(failure, view.syncState);
      return;
    }
    followed.failures += 1;
    failed(failure, view.syncMessage);
    if (followed.failures >= MAX_POLL_FAILURES) {
      finish(followed, false);
      view.syncState.textContent = "Stopped following this sync: its status could not be read.";
      return;
    }
    const wait = failure.retryAfter ? failure.retryAfter * 1000 : POLL_MS * Math.min(followed.failures, 8);
    followed.timer = setTimeout(() => poll(followed), wait);
    return;
  }
  if (state.follow !== followed) {
    return;
  }
  followed.failures = 0;
  const indexingDone = renderStatus(status, followed);
  if (ENDED.has(status.status) && !followed.endedAt) {
    followed.endedAt = Date.now();
  }
  const settled = !SETTLING.has(status.status) || Date.now() - followed.endedAt >= SETTLE_MS;
  if (ENDED.has(status.status) && indexingDone && settled) {
    finish(followed, true);
    return;
  }
  followed.timer = setTimeout(() => poll(followed), POLL_MS);
}

function finish(followed, refresh) {
  clearTimeout(followed.timer);
  if (state.follow === followed) {
    state.follow = null;
  }
  sessionStorage.removeItem(FOLLOWED_KEY);
  if (refresh) {
    loadServices();
    if (view.q.value.trim()) {
      runSearch();
    }
  }
}

// Shows the status; whether indexing is over (or no longer worth waiting for).
function renderStatus(status, followed) {
  const totals = status.totals || {};
  const specsTotal = totals.specs || 0;
  const synced = totals.synced || 0;
  const failedSpecs = totals.failed || 0;
  const done = synced + failedSpecs;
  const operations = totals.operations || 0;
  const indexed = typeof status.indexed === "number" ? status.indexed : null;
  const ended = ENDED.has(status.status);

  if (indexed !== null && indexed !== followed.indexed) {
    followed.indexed = indexed;
    followed.movedAt = Date.now();
  }
  const waitsForIndex = ["completed", "failed"].includes(status.status) && indexed !== null;
  const allIndexed = indexed !== null && indexed >= operations;
  const patienceOver = Date.now() - followed.movedAt > INDEXING_PATIENCE_MS;
  const indexingDone = !waitsForIndex || allIndexed || patienceOver;

  view.sync.dataset.state = status.status;
  view.syncSpecs.max = Math.max(specsTotal, 1);
  view.syncSpecs.value = Math.min(done, Math.max(specsTotal, 1));
  view.syncSpecsText.textContent = specsTotal ? `${done} of ${specsTotal}` : `${done}`;
  view.syncIndexed.max = Math.max(operations, 1);
  view.syncIndexed.value = indexed === null ? 0 : Math.min(indexed, Math.max(operations, 1));
  view.syncIndexedText.textContent =
    indexed === null || (!operations && !ended) ? "" : `${indexed} of ${operations}`;

  const label = STATE_LABELS[status.status] || status.status;
  const parts = [];
  if (status.status === "queued") {
    parts.push("Queued: the Inngest server has the sync and will start it shortly.");
  } else if (specsTotal) {
    parts.push(
      `${label}: ${done} of ${plural(specsTotal, "spec")} done` +
        (failedSpecs ? `, ${failedSpecs} failed` : "") +
        `, ${plural(operations, "operation")}.`,
    );
  } else {
    parts.push(`${label}.`);
  }
  if (indexed !== null && operations) {
    if (allIndexed) {
      parts.push(`All ${plural(operations, "operation")} indexed.`);
    } else if (ended && patienceOver && waitsForIndex) {
      parts.push(`Indexing stopped at ${indexed} of ${operations} operations.`);
    } else if (waitsForIndex || !ended) {
      parts.push(`Indexing: ${indexed} of ${operations} operations so far.`);
    }
  }
  view.syncState.textContent = parts.join(" ");

  view.syncSpecList.replaceChildren(
    ...(Array.isArray(status.specs) ? status.specs : []).map((spec) => {
      const ok = spec.status === "synced";
      const name = spec.service ? `${spec.service} ${spec.version || ""}`.trim() : spec.url;
      return el("li", { cls: ok ? "spec ok" : "spec failed" }, [
        el("span", { cls: "spec-mark", text: ok ? "synced" : "failed" }),
        el("span", { cls: "spec-name", text: name }),
        ok
          ? el("span", { cls: "count", text: plural(spec.operations || 0, "operation") })
          : el("span", { cls: "spec-error", text: spec.error || "no reason given" }),
        ok ? null : el("span", { cls: "spec-url mono", text: spec.url }),
      ]);
    }),
  );
  view.syncMessage.textContent = status.message || "";
  return indexingDone;
}

view.syncNow.addEventListener("click", startSync);

// ---- start -------------------------------------------------------------------------------

showTokenState();
loadServices();
const followed = sessionStorage.getItem(FOLLOWED_KEY);
if (followed) {
  follow(followed);
}
