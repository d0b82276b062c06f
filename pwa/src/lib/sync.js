// The sync engine: the JavaScript twin of the reference client (sync/client.py), speaking
// docs/sync-protocol.md. Capturing never touches the network; ``sync()`` pushes the
// pending outbox, stores every result, pulls the changed cases page by page, checks the
// scope digest, then uploads files. Nothing is lost on a failed request: the next sync
// resends, and the server answers replays as duplicates.

import * as store from "./db.js";
import { API, fetchWithTimeout, problemMessage, problemOf } from "./api.js";
import { deviceTime, sha256Hex, uuid4, uuid7 } from "./util.js";
import { uploadFiles } from "./uploads.js";

export const PROTOCOL = 1;
export const APP_VERSION = "fengqiao-pwa/0.1.0";
const MAX_OUTBOX = 500;
const MAX_PAGE = 500;
export const PAGE_SIZE = 200;
const SYNC_TIMEOUT_MS = 60_000;
// Between full syncs of an idle phone only the beacon is asked (docs/sync-protocol.md).
export const FULL_SYNC_EVERY_MS = 6 * 3600_000;

export class SyncError extends Error {
  constructor(message, { code = "sync.failed", retryable = false, status = null } = {}) {
    super(message);
    this.code = code;
    this.retryable = retryable;
    this.status = status;
  }
}

const REVOKED_MESSAGE = "本设备已被停用，已停止同步（手机上的数据仍保留）";

// ------------------------------------------------------------------ enrollment and capture

/** Register this phone with the logged-in user's token; keeps the device token. */
export async function enroll(userToken, name) {
  const deviceId = (await store.getSetting("device_id")) || uuid4();
  let response;
  try {
    response = await fetchWithTimeout(`${API}/devices`, {
      method: "POST",
      headers: { Authorization: `Bearer ${userToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ device_id: deviceId, name }),
    });
  } catch {
    throw new SyncError("无法连接服务器，请稍后再试", { code: "sync.network", retryable: true });
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    throw new SyncError(problemMessage(problem, response.status), { code: problem.code, status: response.status });
  }
  const enrolled = await response.json();
  await store.setSettings({
    device_id: deviceId,
    device_token: enrolled.device_token,
    beacon: enrolled.beacon || null,
    revoked: false,
  });
  return deviceId;
}

function queue(type, caseId, data, baseVersion = null, upload = null) {
  const made = deviceTime();
  return store.append((seq) => {
    const mutation = { seq, id: uuid7(), type, case_id: caseId, data, device_time: made };
    if (baseVersion !== null) mutation.base_version = baseVersion;
    return mutation;
  }, upload);
}

/** Queue a new case (the body of POST /cases without id). Returns its id. */
export async function captureCase(data, caseId = uuid7()) {
  await queue("create_case", caseId, data);
  notify();
  return caseId;
}

/** A status change or timeline entry (visit, mediation session, note). */
export async function addTransition(caseId, action, reason = null, data = {}) {
  const mutation = await queue("transition", caseId, { action, reason, data });
  notify();
  return mutation.seq;
}

export async function editCase(caseId, baseVersion, fields) {
  const mutation = await queue("edit_case", caseId, fields, baseVersion);
  notify();
  return mutation.seq;
}

/** A periodic 排查 report (docs/screening.md); ``reportId`` is made here. */
export async function fileScreeningReport(data, reportId = uuid7()) {
  await queue("file_screening_report", reportId, data);
  notify();
  return reportId;
}

/**
 * A file's record and its upload job, in one transaction. ``blob`` is already what will
 * be sent (a photo resized on the phone). The record never waits for the bytes.
 */
export async function attachFile(caseId, blob, name, note = null) {
  const bytes = await blob.arrayBuffer();
  const sha256 = await sha256Hex(bytes);
  const attachmentId = uuid7();
  const data = { id: attachmentId, sha256, size: blob.size, type: blob.type, name };
  if (note) data.note = note;
  const job = {
    id: attachmentId,
    case_id: caseId,
    sha256,
    size: blob.size,
    type: blob.type,
    name,
    blob,
    url: null,
    offset: 0,
    state: "pending",
    error: null,
    created_at: new Date().toISOString(),
  };
  await queue("attach_file", caseId, data, null, job);
  notify();
  return attachmentId;
}

// ------------------------------------------------------------------ one sync

function request(settings, pageSize, extra = {}) {
  const body = { protocol: PROTOCOL, app_version: APP_VERSION, device_id: settings.device_id, page_size: pageSize };
  if (settings.cursor) body.cursor = settings.cursor;
  return { ...body, ...extra };
}

async function gzip(text) {
  if (typeof CompressionStream === "undefined") return { body: text, encoded: false };
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return { body: await new Response(stream).arrayBuffer(), encoded: true };
}

async function post(token, body, summary) {
  const packed = await gzip(JSON.stringify(body));
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  // The browser asks for gzip answers on its own (Accept-Encoding cannot be set here).
  if (packed.encoded) headers["Content-Encoding"] = "gzip";
  let response;
  try {
    response = await fetchWithTimeout(`${API}/sync`, { method: "POST", headers, body: packed.body }, SYNC_TIMEOUT_MS);
  } catch (error) {
    throw new SyncError("网络中断，稍后重试（未同步的记录仍在本机）", { code: "sync.network", retryable: true });
  }
  summary.requests += 1;
  summary.bytesSent += packed.encoded ? packed.body.byteLength : packed.body.length;
  return response;
}

async function raiseForProblem(response) {
  if (response.ok) return;
  const problem = await problemOf(response);
  const code = problem.code || `http.${response.status}`;
  const message = problemMessage(problem, response.status);
  if (code === "sync.device_revoked") {
    await store.setSettings({ revoked: true });
    throw new SyncError(REVOKED_MESSAGE, { code, status: 401 });
  }
  if (response.status >= 500) {
    throw new SyncError(`服务器暂时不可用（${response.status}），稍后重试：${message}`, {
      code,
      retryable: true,
      status: response.status,
    });
  }
  if (code === "sync.client_outdated") {
    throw new SyncError("应用版本过旧，请刷新页面更新（未同步的记录仍在本机）", { code, status: response.status });
  }
  throw new SyncError(message, { code, status: response.status });
}

/** SHA-256 of the sorted case ids (hex, no dashes) joined by newlines. */
export async function scopeDigest(ids) {
  const text = ids
    .map((id) => id.replaceAll("-", "").toLowerCase())
    .sort()
    .join("\n");
  return sha256Hex(text);
}

const hexToUuid = (h) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;

async function readAnswer(response) {
  try {
    return await response.json();
  } catch {
    // The body was cut: nothing of it was stored, so a retry loses nothing.
    throw new SyncError("网络中断，稍后重试（未同步的记录仍在本机）", { code: "sync.network", retryable: true });
  }
}

/** Push the pending outbox, store every result, pull every page, check the digest. */
export async function sync({ pageSize = PAGE_SIZE } = {}) {
  let settings = await store.allSettings();
  if (settings.revoked) throw new SyncError(REVOKED_MESSAGE, { code: "sync.device_revoked", status: 401 });
  const token = settings.device_token;
  if (!token || !settings.device_id) throw new SyncError("本机尚未登记，请先登录", { code: "sync.not_enrolled" });
  const summary = {
    applied: 0,
    duplicate: 0,
    rejected: 0,
    conflict: 0,
    pages: 0,
    requests: 0,
    changes: 0,
    bytesSent: 0,
    resentAfterGap: false,
    driftRepaired: false,
    drifted: false,
    uploaded: 0,
    uploadErrors: [],
  };
  let gapResent = false;
  let cursorReset = false;
  for (;;) {
    settings = await store.allSettings();
    const outbox = await store.pending(MAX_OUTBOX);
    const body = request(settings, pageSize);
    if (outbox.length) body.outbox = outbox;
    const response = await post(token, body, summary);
    if (response.status !== 200) {
      const problem = await problemOf(response.clone());
      const code = problem.code;
      if (code === "sync.gap" && !gapResent) {
        const expected = Number(problem.expected_seq || 0);
        if (expected >= 1 && (await store.hasSeq(expected))) {
          await store.requeueFrom(expected);
          gapResent = summary.resentAfterGap = true;
          continue;
        }
        throw new SyncError(`服务器要求从第 ${expected} 条变更开始，但本机已没有这些记录，请联系管理员`, {
          code: "sync.gap",
          status: 409,
        });
      }
      if (response.status === 422 && JSON.stringify(problem).includes("cursor.invalid") && !cursorReset) {
        await store.clearCases();
        cursorReset = true;
        continue;
      }
      await raiseForProblem(response);
    }
    const answer = await readAnswer(response);
    await store.storeAnswer(answer);
    notify();
    summary.pages += 1;
    summary.changes += answer.changes.length;
    for (const result of answer.results) summary[result.status] = (summary[result.status] || 0) + 1;
    if (answer.more || (await store.pendingCount())) continue;
    if (answer.scope && answer.scope.digest !== (await scopeDigest(await store.caseIds()))) {
      if (summary.driftRepaired) {
        summary.drifted = true;
        break;
      }
      await repairDrift(token, summary);
      summary.driftRepaired = true;
      continue;
    }
    break;
  }
  await store.setSettings({ last_full_sync_at: new Date().toISOString() });
  // Records never wait behind media: files go once every record is through.
  const uploads = await uploadFiles(token);
  summary.uploaded = uploads.uploaded;
  summary.uploadErrors = uploads.errors;
  notify();
  return summary;
}

/** The digest differs: drop what is no longer in scope, fetch what is missing. */
async function repairDrift(token, summary) {
  async function exchange(extra) {
    const settings = await store.allSettings();
    const response = await post(token, request(settings, 1, extra), summary);
    await raiseForProblem(response);
    const answer = await readAnswer(response);
    await store.storeAnswer(answer);
    return answer;
  }
  const answer = await exchange({ want_scope_ids: true });
  const inScope = new Set((answer.scope_ids || []).map(hexToUuid));
  const held = await store.caseIds();
  await store.deleteCases(held.filter((id) => !inScope.has(id)));
  const heldSet = new Set(held);
  const missing = [...inScope].filter((id) => !heldSet.has(id)).sort();
  for (let start = 0; start < missing.length; start += MAX_PAGE) {
    await exchange({ refetch: missing.slice(start, start + MAX_PAGE) });
  }
}

/** Ask the beacon whether the scope changed: true, false, or null (no answer). */
export async function news() {
  const settings = await store.allSettings();
  if (!settings.beacon || !settings.cursor || settings.revoked) return true;
  const changeSeq = String(settings.cursor).split(".")[0];
  try {
    const response = await fetchWithTimeout(`/b/${settings.beacon}/${changeSeq}`, { cache: "no-store" }, 15_000);
    return response.status !== 204;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ state the UI shows

const listeners = new Set();
export const syncState = { running: false, error: null, lastResult: null, nextRetryAt: null };

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify() {
  for (const listener of listeners) listener(syncState);
}

// ------------------------------------------------------------------ when to sync

const BACKOFF_MS = [5_000, 15_000, 30_000, 60_000, 120_000, 300_000];
const IDLE_CHECK_MS = 5 * 60_000;
let failures = 0;
let retryTimer = null;
let running = null;
let again = false;

/** Sync now (or right after the one running). Resolves with its summary or error. */
export function requestSync() {
  if (running) {
    again = true;
    return running;
  }
  clearTimeout(retryTimer);
  retryTimer = null;
  syncState.nextRetryAt = null;
  syncState.running = true;
  notify();
  running = (async () => {
    try {
      const summary = await sync();
      failures = 0;
      syncState.error = null;
      syncState.lastResult = summary;
      return summary;
    } catch (error) {
      syncState.error = { message: error.message, code: error.code || "sync.failed" };
      if (error.retryable) scheduleRetry();
      return error;
    } finally {
      running = null;
      syncState.running = false;
      notify();
      if (again) {
        again = false;
        requestSync();
      }
    }
  })();
  return running;
}

function scheduleRetry() {
  // Exponential backoff with jitter, so a village of phones coming back online at once
  // does not hit the server in step.
  const base = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
  failures += 1;
  const delay = base / 2 + Math.random() * base;
  syncState.nextRetryAt = new Date(Date.now() + delay).toISOString();
  retryTimer = setTimeout(() => {
    if (navigator.onLine !== false) requestSync();
    else scheduleRetry();
  }, delay);
}

async function idleCheck() {
  if (running || !(await store.getSetting("device_token"))) return;
  const last = Date.parse((await store.getSetting("last_full_sync_at")) || 0);
  const work = (await store.pendingCount()) || (await store.uploadsIn("pending")).length;
  if (work || !last || Date.now() - last >= FULL_SYNC_EVERY_MS) {
    requestSync();
    return;
  }
  if (await news()) requestSync();
}

/** Sync when the network returns, every few minutes when idle, and at start. */
export function startScheduler() {
  addEventListener("online", () => requestSync());
  setInterval(() => {
    if (navigator.onLine !== false) idleCheck();
  }, IDLE_CHECK_MS);
  if (navigator.onLine !== false) idleCheck();
}

export { notify as refreshSyncState };
