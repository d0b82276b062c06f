// The phone's own store (IndexedDB through idb): settings, the outbox of the sync
// protocol, the cases it holds, the files waiting for upload and cached reference data.
// The same tables as the reference client's SQLite file (sync/client.py).
//
// IndexedDB commits a transaction as soon as it has no pending request at the end of a
// task, so nothing but IndexedDB requests is awaited inside one (hashing, compressing and
// fetching happen before or after).

import { openDB } from "idb";

export const PENDING = "pending";
export const ACKNOWLEDGED = "acknowledged";
const DB_NAME = "fengqiao";

let opened = null;

export function db() {
  if (!opened) {
    opened = openDB(DB_NAME, 1, {
      upgrade(database) {
        database.createObjectStore("settings");
        const outbox = database.createObjectStore("outbox", { keyPath: "seq" });
        outbox.createIndex("state", "state");
        database.createObjectStore("cases", { keyPath: "id" });
        const uploads = database.createObjectStore("uploads", { keyPath: "id" });
        uploads.createIndex("state", "state");
        database.createObjectStore("cache");
      },
      blocking() {
        // A newer version of the app opened the database in another tab: let it upgrade.
        opened?.then((database) => database.close());
        opened = null;
      },
    });
  }
  return opened;
}

export async function getSetting(key) {
  return (await db()).get("settings", key);
}

export async function setSettings(values) {
  const tx = (await db()).transaction("settings", "readwrite");
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === null) tx.store.delete(key);
    else tx.store.put(value, key);
  }
  await tx.done;
}

export async function allSettings() {
  const database = await db();
  const tx = database.transaction("settings");
  const [keys, values] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll()]);
  return Object.fromEntries(keys.map((key, index) => [key, values[index]]));
}

/**
 * Number a new mutation and queue it atomically: ``make(seq)`` returns the mutation;
 * ``upload`` (optional) is the file's upload job, committed in the same transaction so a
 * record never exists without its bytes queued, nor the other way round.
 */
export async function append(make, upload = null) {
  const stores = upload ? ["settings", "outbox", "uploads"] : ["settings", "outbox"];
  const tx = (await db()).transaction(stores, "readwrite");
  const settings = tx.objectStore("settings");
  const seq = (await settings.get("next_seq")) || 1;
  const mutation = make(seq);
  tx.objectStore("outbox").add({
    seq,
    id: mutation.id,
    type: mutation.type,
    case_id: mutation.case_id,
    mutation,
    state: PENDING,
    status: null,
    code: null,
    message: null,
    case_version: null,
    held: null,
    created_at: new Date().toISOString(),
    acknowledged_at: null,
  });
  settings.put(seq + 1, "next_seq");
  if (upload) tx.objectStore("uploads").add(upload);
  await tx.done;
  return mutation;
}

export async function pending(limit) {
  const rows = await (await db()).getAllFromIndex("outbox", "state", PENDING);
  rows.sort((a, b) => a.seq - b.seq);
  return rows.slice(0, limit).map((row) => row.mutation);
}

export async function pendingCount() {
  return (await db()).countFromIndex("outbox", "state", PENDING);
}

export async function outboxItems() {
  return (await db()).getAll("outbox");
}

export async function hasSeq(seq) {
  return (await (await db()).getKey("outbox", seq)) !== undefined;
}

/** The server lost track of mutations from ``seq`` on (sync.gap): send them again. */
export async function requeueFrom(seq) {
  const tx = (await db()).transaction("outbox", "readwrite");
  for await (const cursor of tx.store.iterate(IDBKeyRange.lowerBound(seq))) {
    cursor.update({ ...cursor.value, state: PENDING, acknowledged_at: null });
  }
  await tx.done;
}

export async function allCases() {
  return (await db()).getAll("cases");
}

export async function caseIds() {
  return (await db()).getAllKeys("cases");
}

export async function getCase(id) {
  return (await db()).get("cases", id);
}

export async function putSnapshots(snapshots) {
  const tx = (await db()).transaction("cases", "readwrite");
  for (const snapshot of snapshots) tx.store.put(snapshot);
  await tx.done;
}

export async function deleteCases(ids) {
  const tx = (await db()).transaction("cases", "readwrite");
  for (const id of ids) tx.store.delete(id);
  await tx.done;
}

/** Forget every case and the cursor: the next pull starts from the beginning. */
export async function clearCases() {
  const tx = (await db()).transaction(["cases", "settings"], "readwrite");
  tx.objectStore("cases").clear();
  tx.objectStore("settings").delete("cursor");
  await tx.done;
}

/** Results, the page of snapshots and its cursor: one transaction, all or nothing. */
export async function storeAnswer(answer) {
  const stamp = new Date().toISOString();
  const tx = (await db()).transaction(["outbox", "cases", "settings"], "readwrite");
  const outbox = tx.objectStore("outbox");
  for (const result of answer.results) {
    const row = await outbox.get(result.seq);
    if (!row || row.id !== result.id) continue;
    // A duplicate shows the worker what the first delivery came to.
    const shown = result.status === "duplicate" ? result.original_status || result.status : result.status;
    outbox.put({
      ...row,
      state: ACKNOWLEDGED,
      status: shown,
      code: result.code ?? null,
      message: result.message ?? null,
      case_version: result.case_version ?? null,
      held: result.held ?? null,
      acknowledged_at: stamp,
    });
  }
  const cases = tx.objectStore("cases");
  for (const snapshot of answer.changes) cases.put(snapshot);
  for (const snapshot of answer.refetched || []) cases.put(snapshot);
  const settings = tx.objectStore("settings");
  settings.put(answer.cursor, "cursor");
  settings.put(stamp, "last_sync_at");
  settings.put(answer.server_time, "server_time");
  // How far the device clock is off: lights are computed against the server's time.
  settings.put(Date.parse(answer.server_time) - Date.now(), "clock_offset_ms");
  await tx.done;
}

export async function uploadsIn(state) {
  return (await db()).getAllFromIndex("uploads", "state", state);
}

export async function allUploads() {
  return (await db()).getAll("uploads");
}

export async function updateUpload(id, changes) {
  const tx = (await db()).transaction("uploads", "readwrite");
  const row = await tx.store.get(id);
  if (row) tx.store.put({ ...row, ...changes });
  await tx.done;
}

export async function getCached(key) {
  return (await db()).get("cache", key);
}

export async function putCached(key, value) {
  return (await db()).put("cache", value, key);
}

/** Log out on this phone: everything goes, including an outbox not yet sent. */
export async function wipe() {
  const database = await db();
  const names = ["settings", "outbox", "cases", "uploads", "cache"];
  const tx = database.transaction(names, "readwrite");
  for (const name of names) tx.objectStore(name).clear();
  await tx.done;
}
