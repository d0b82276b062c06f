// The REST API (docs/api.md) with the user's login token. Errors are problem+json with a
// stable ``code``; the app switches on the code and shows ``detail`` (Chinese) to people.

import { getSetting } from "./db.js";

export const API = "/api/v1";
const TIMEOUT_MS = 30_000;

export class ApiError extends Error {
  constructor(message, { code = "http.error", status = 0, problem = {}, retryable = false } = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.problem = problem;
    this.retryable = retryable;
  }
}

const listeners = new Set();
/** Called when the login token stopped working: the app asks for the password again. */
export function onLoginNeeded(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function problemMessage(problem, status) {
  const first = Array.isArray(problem.errors) && problem.errors.length ? problem.errors[0].message : null;
  return first || problem.detail || problem.message || problem.title || `服务器返回错误（${status}）`;
}

export async function problemOf(response) {
  try {
    const body = await response.json();
    return body && typeof body === "object" ? body : {};
  } catch {
    return {};
  }
}

export async function fetchWithTimeout(url, options = {}, timeout = TIMEOUT_MS) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeout);
  try {
    return await fetch(url, { ...options, signal: abort.signal });
  } finally {
    clearTimeout(timer);
  }
}

/** One REST call; ``as``: "json" (default), "blob" or "response". */
export async function api(path, { method = "GET", body, query, token, as = "json" } = {}) {
  const bearer = token ?? (await getSetting("user_token"));
  let url = API + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item !== undefined && item !== null && item !== "") params.append(key, item);
      }
    }
    const text = params.toString();
    if (text) url += "?" + text;
  }
  const headers = {};
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetchWithTimeout(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError("网络不通，请稍后再试", { code: "network", retryable: true });
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    const code = problem.code || `http.${response.status}`;
    if (response.status === 401 && code.startsWith("auth.")) for (const listener of listeners) listener(code);
    throw new ApiError(problemMessage(problem, response.status), {
      code,
      status: response.status,
      problem,
      retryable: response.status >= 500,
    });
  }
  if (as === "response") return response;
  if (as === "blob") return response.blob();
  if (response.status === 204) return null;
  return response.json();
}

/** Save a download (a PDF) under its server-given name. */
export async function download(path, fallbackName) {
  const response = await api(path, { as: "response" });
  const disposition = response.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  const name = star ? decodeURIComponent(star[1]) : plain ? plain[1] : fallbackName;
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  return { name, size: blob.size, type: blob.type };
}
