// Calls the service with the caller's key. The key lives in sessionStorage: it is gone when the
// tab closes and is never written anywhere else.

const KEY = "voice-avatar-key";

export function savedKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function saveKey(key) {
  sessionStorage.setItem(KEY, key.trim());
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

/** An error the service answered with; `message` is the server's own sentence, fit to show. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** JSON in and out (or a Blob with `as: "blob"`); any failure becomes an ApiError. */
export async function api(path, { method = "GET", json, form, as = "json" } = {}) {
  const headers = { Authorization: `Bearer ${savedKey()}` };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch {
    throw new ApiError(0, "network", "the service did not answer: check the connection and try again");
  }
  if (!response.ok) {
    let code = "http_error";
    let message = `the service answered with status ${response.status}`;
    try {
      const error = (await response.json()).error;
      code = error.code;
      message = error.message;
    } catch {
      // not our JSON (a proxy's page, say): keep the status line
    }
    throw new ApiError(response.status, code, message);
  }
  return as === "blob" ? response.blob() : response.json();
}

/** A sentence for a person: what went wrong, in the service's words, with a hint for a bad key. */
export function explain(error, doing) {
  if (error.status === 401) return `That API key was not accepted: ${error.message}. Check it and try again.`;
  if (error.status === 403) return `This key cannot ${doing}: ${error.message}.`;
  return `Could not ${doing}: ${error.message}`;
}

/** Tells screen-reader users and everyone else what happened, in the page's one live region. */
export function announce(text, kind = "info") {
  const status = document.getElementById("status");
  status.textContent = text;
  status.dataset.kind = kind;
}
