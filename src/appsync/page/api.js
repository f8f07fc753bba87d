// The service's REST API as the page calls it, and its failures as sentences a person can act on.
//
// Only this origin is called (the Content-Security-Policy allows nothing else). Credentials are
// the API's: a bearer token pasted into the page (kept in this tab's sessionStorage only), else
// the app's session cookie, which the browser sends by itself to this same site.

const TOKEN_KEY = "appsync.token";

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function storeToken(token) {
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

// A failed call: `status` (0 when the service could not be reached), the API's error code and
// message, `retryAfter` in seconds (or null), and `sentence`, what the page shows.
export class ApiFailure extends Error {
  constructor(status, code, detail, retryAfter, action) {
    const sentence = explain(status, code, detail, retryAfter, action);
    super(sentence);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
    this.sentence = sentence;
  }
}

function withStop(text) {
  const trimmed = String(text || "").trim();
  return trimmed && !/[.!?]$/.test(trimmed) ? `${trimmed}.` : trimmed;
}

function seconds(retryAfter, fallback) {
  const value = retryAfter ?? fallback;
  return value === 1 ? "1 second" : `${value} seconds`;
}

// The sentence for a failed call to `action` ("search", "sync", ...): never the raw body.
export function explain(status, code, detail, retryAfter, action = "request") {
  const reason = withStop(detail);
  const because = reason ? ` The service said: ${reason}` : "";
  if (status === 0) {
    return "The service cannot be reached: check that it is running, then try again.";
  }
  if (status === 401) {
    return (
      "You are not signed in, or your credentials were refused." +
      because +
      " Paste a bearer token below, or sign in to the app on this site so that its session cookie is sent."
    );
  }
  if (status === 404 && action === "operation") {
    return "This operation is no longer among your synced operations (a newer sync may have removed it): search again.";
  }
  if (status === 404 && action === "sync's status") {
    return "This sync is unknown to the service, or it is not yours: start a new one with Sync now.";
  }
  if (status === 422) {
    return `The ${action} could not run: ${reason || "the request was not valid."}`;
  }
  if (status === 503 && code === "overloaded") {
    return `The service is busy with other searches right now; trying again in ${seconds(retryAfter, 1)}.`;
  }
  if (status === 503 && code === "index_unavailable") {
    return `The operations index is unavailable right now; trying again in ${seconds(retryAfter, 5)}.${because}`;
  }
  if (status === 502 && action === "sync") {
    return `The sync was not sent: the Inngest server refused it or could not be reached.${because}`;
  }
  if (status === 502) {
    return `The service could not reach the Inngest server for the ${action}.${because}`;
  }
  if (status === 504 && action === "sync") {
    return `The Inngest server did not confirm the sync in time: it may or may not have been stored. Sending it again is safe.${because}`;
  }
  if (status === 504) {
    return `The Inngest server did not answer in time for the ${action}.${because}`;
  }
  if (status === 503) {
    return `The service is unavailable right now${retryAfter ? `; try again in ${seconds(retryAfter, 1)}` : ""}.${because}`;
  }
  if (code === "invalid_app_settings") {
    return `No sync was sent: the service's app settings are invalid (fix them; no restart is needed).${because}`;
  }
  if (status >= 500) {
    return `The service failed to answer the ${action} (HTTP ${status}).${because}`;
  }
  return `The ${action} was refused (HTTP ${status}).${because}`;
}

function retryAfterOf(response) {
  const value = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return Number.isFinite(value) && value >= 0 ? Math.min(value, 60) : null;
}

// Calls the API: the parsed JSON body, or an ApiFailure.
export async function call(method, path, { action, signal } = {}) {
  const headers = { Accept: "application/json" };
  const token = storedToken();
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  let body;
  if (method === "POST") {
    // As the original's clients post a sync; the service does not read the body.
    headers["Content-Type"] = "application/json";
    body = JSON.stringify({ data: "data" });
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") {
      throw error;
    }
    throw new ApiFailure(0, "unreachable", "", null, action);
  }
  let json = null;
  try {
    json = await response.json();
  } catch (error) {
    if (error.name === "AbortError") {
      throw error;
    }
    json = null;
  }
  if (!response.ok) {
    const code = json && typeof json.error === "string" ? json.error : "";
    const detail = json && typeof json.message === "string" ? json.message : "";
    throw new ApiFailure(response.status, code, detail, retryAfterOf(response), action);
  }
  if (json === null || typeof json !== "object") {
    throw new ApiFailure(response.status, "bad_answer", "the answer was not JSON", null, action);
  }
  return json;
}

export function searchPath(query, { service, method, k = 10 }) {
  const params = new URLSearchParams({ q: query, k: String(k) });
  if (service) {
    params.set("service", service);
  }
  if (method) {
    params.set("method", method);
  }
  return `/api/operations/search?${params}`;
}

export function operationPath(uid) {
  return `/api/operations/${encodeURIComponent(uid)}`;
}

export function statusPath(syncId) {
  return `/api/openapi/sync/${encodeURIComponent(syncId)}`;
}
