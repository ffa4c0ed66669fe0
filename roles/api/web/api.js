// The API client: the bearer token, JSON calls, and problem+json errors.

const TOKEN = "feedsvc.token";
const USER = "feedsvc.user";

/** An error answered by the API, with its problem+json title and detail. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export const session = {
  get token() { return localStorage.getItem(TOKEN) || ""; },
  get user() { return localStorage.getItem(USER) || ""; },
  set(user, token) {
    localStorage.setItem(USER, user);
    localStorage.setItem(TOKEN, token);
  },
  clear() {
    localStorage.removeItem(USER);
    localStorage.removeItem(TOKEN);
  },
};

/** The subject of a JWT (the user), read without checking it: the API does. */
export function tokenUser(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).sub || "";
  } catch {
    return "";
  }
}

/** call sends one request and returns its JSON (null for 204). */
export async function call(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { title: "Network error", detail: `the server did not answer (${err.message})` });
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : { title: await res.text() };
  if (!res.ok) {
    let problem = data;
    if (res.status === 429) {
      const wait = res.headers.get("Retry-After");
      if (wait) problem = { ...data, detail: `${data.detail || data.title} (try again in ${wait} s)` };
    }
    throw new ApiError(res.status, problem);
  }
  return data;
}

// The Idempotency-Key of each post being sent, by its body: a post whose
// request got no answer or a 5xx may still be made, so sending the same
// text again reuses the key and the server makes it once. An answer that
// settles it (2xx, 4xx) ends the key: the same text sent later is a new post.
const postKeys = new Map();

/** createPost sends POST /v1/posts with an Idempotency-Key (see postKeys). */
export async function createPost(body) {
  const id = JSON.stringify(body);
  if (!postKeys.has(id)) {
    const b = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
    postKeys.set(id, Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""));
  }
  try {
    const p = await call("POST", "/v1/posts", body, { "Idempotency-Key": postKeys.get(id) });
    postKeys.delete(id);
    return p;
  } catch (err) {
    if (err.status > 0 && err.status < 500) postKeys.delete(id);
    throw err;
  }
}

/** qs builds a query string, skipping empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
