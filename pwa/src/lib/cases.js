// The cases the phone holds, as the lists and the detail show them: the server's
// snapshots (docs/sync-protocol.md, Snapshot) plus the cases captured here and not yet
// synced, and the timeline entries still waiting in the outbox.

import * as store from "./db.js";

/** Server time now, as well as the phone knows it (device clocks are often wrong). */
export async function serverNow() {
  return Date.now() + ((await store.getSetting("clock_offset_ms")) || 0);
}

/** green / yellow / red from the snapshot's next deadline; null when no clock runs. */
export function lightOf(snapshot, now) {
  const due = snapshot.due;
  if (!due || !due.end) return null;
  const end = Date.parse(due.end);
  const from = Date.parse(due.from || due.end);
  if (now >= end) return "red";
  if (now >= from + ((end - from) * 2) / 3) return "yellow";
  return "green";
}

export const LIGHT_NAMES = { red: "红灯", yellow: "黄灯", green: "绿灯", none: "无时限" };

function maskId(value) {
  if (!value) return null;
  return value.length === 18 ? value.slice(0, 6) + "********" + value.slice(-4) : "*".repeat(value.length);
}

function maskPhone(value) {
  const digits = (value || "").replace(/\D/g, "");
  return digits.length >= 8 ? "*".repeat(digits.length - 4) + digits.slice(-4) : null;
}

/** A case captured on this phone, shown like a snapshot until the server's copy arrives. */
export function localSnapshot(row, user) {
  const data = row.mutation.data;
  return {
    id: row.case_id,
    v: 0,
    no: null,
    st: "registered",
    lv: "village",
    kind: data.kind,
    cat: data.category,
    ch: data.channel,
    title: data.title,
    req: data.request,
    facts: data.facts || "",
    why: data.reasons || "",
    risk: data.risk,
    loc: data.location ? [data.location.latitude, data.location.longitude] : null,
    vil: data.village_code || (user && user.role === "grid_worker" ? user.node_code.slice(0, 12) : null),
    grid: data.grid_code || (user && user.role === "grid_worker" ? user.node_code : null),
    by: user ? user.id : null,
    at: row.mutation.device_time,
    due: null,
    parties: (data.parties || []).map((party, index) => ({
      id: String(index),
      k: party.kind || "person",
      r: party.role || "applicant",
      n: party.name,
      idn: maskId(party.id_number),
      tel: maskPhone(party.phone),
      addr: party.address ? "****" : null,
      rep: !!party.is_representative,
      sig: false,
    })),
    tl: [],
    att: [],
    local: row.state === store.PENDING ? "pending" : row.status,
  };
}

/** Every case to list: snapshots, then creates not yet answered by the server. */
export async function listCases(user) {
  const [snapshots, outbox] = await Promise.all([store.allCases(), store.outboxItems()]);
  const held = new Set(snapshots.map((snapshot) => snapshot.id));
  const local = outbox
    .filter((row) => row.type === "create_case" && row.state === store.PENDING && !held.has(row.case_id))
    .map((row) => localSnapshot(row, user));
  return local.concat(snapshots);
}

export async function caseView(id, user) {
  const [snapshot, outbox, uploads] = await Promise.all([store.getCase(id), store.outboxItems(), store.allUploads()]);
  const mine = outbox.filter((row) => row.case_id === id);
  const created = mine.find((row) => row.type === "create_case");
  const base = snapshot || (created ? localSnapshot(created, user) : null);
  if (!base) return null;
  return {
    snapshot: base,
    pendingEntries: mine.filter((row) => row.state === store.PENDING && row.type !== "create_case"),
    problems: mine.filter((row) => row.status === "rejected" || row.status === "conflict"),
    uploads: uploads.filter((job) => job.case_id === id),
  };
}

/** Text a search matches: number, title, request, facts, party names. */
export function searchText(snapshot) {
  return [snapshot.no, snapshot.title, snapshot.req, snapshot.facts, ...(snapshot.parties || []).map((p) => p.n)]
    .filter(Boolean)
    .join(" ")
    .toLowerCase();
}

const ORDER = { red: 0, yellow: 1, green: 2, none: 3 };

/** Most urgent first (red, yellow, green, none), then newest. */
export function byUrgency(a, b) {
  return ORDER[a.light || "none"] - ORDER[b.light || "none"] || (b.at || "").localeCompare(a.at || "");
}

export async function problems() {
  return (await store.outboxItems())
    .filter((row) => row.status === "rejected" || row.status === "conflict")
    .sort((a, b) => b.seq - a.seq);
}
