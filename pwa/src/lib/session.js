// Who is using this phone: login, device enrollment, the reference data a worker needs
// offline (categories, places, screening periods), and logout.

import * as store from "./db.js";
import { api, ApiError } from "./api.js";
import { enroll, SyncError } from "./sync.js";
import { ROLE_ACTIONS } from "./vocabulary.js";

const listeners = new Set();
export let session = null; // {user, deviceId, tokenExpiresAt}

export function onSession(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function publish(value) {
  session = value;
  for (const listener of listeners) listener(session);
}

export async function loadSession() {
  const settings = await store.allSettings();
  publish(
    settings.user && settings.device_token
      ? { user: settings.user, deviceId: settings.device_id, tokenExpiresAt: settings.token_expires_at || null }
      : null,
  );
  return session;
}

function deviceName() {
  const ua = navigator.userAgent;
  const model = /Android[^;)]*;\s*([^;)]+)/.exec(ua);
  return (model ? model[1] : navigator.platform || "浏览器").slice(0, 60);
}

/** Log in with the password; the first login on this phone also enrolls it. */
export async function login(username, password) {
  const answer = await api("/auth/login", { method: "POST", body: { username, password }, token: "" });
  const previous = await store.getSetting("user");
  if (previous && previous.id !== answer.user.id && (await store.pendingCount())) {
    throw new ApiError(`本机还有 ${previous.display_name} 未同步的记录，请先由其登录同步后再换人使用`, {
      code: "session.other_user_pending",
    });
  }
  if (previous && previous.id !== answer.user.id) await store.wipe();
  await store.setSettings({ user_token: answer.token, token_expires_at: answer.expires_at, user: answer.user });
  if (!(await store.getSetting("device_token"))) {
    try {
      await enroll(answer.token, deviceName());
    } catch (error) {
      await store.setSettings({ user_token: null, user: null });
      throw error instanceof SyncError ? new ApiError(error.message, { code: error.code }) : error;
    }
  }
  await refreshReference();
  return loadSession();
}

/** Ask for the password again without losing anything (the login token expired). */
export async function relogin(password) {
  const user = await store.getSetting("user");
  return login(user.username, password);
}

/** Categories and places, cached for offline capture; errors leave the old cache. */
export async function refreshReference() {
  const user = await store.getSetting("user");
  if (!user) return;
  try {
    await store.putCached("categories", await api("/categories"));
  } catch {
    /* offline: keep the cached list */
  }
  try {
    await store.putCached("places", await loadPlaces(user));
  } catch {
    /* offline */
  }
}

// Down to villages and grids: what a capture form and the leaders' filters choose from.
async function loadPlaces(user) {
  const places = {};
  const own = await api(`/regions/${user.node_code}`);
  places[own.code] = own;
  let frontier = [own];
  for (let depth = 0; depth < 4 && frontier.length; depth++) {
    const next = [];
    for (const region of frontier) {
      // A county officer picks villages, not grids: skip ~80 requests for grids.
      if (region.level === "grid" || (region.level === "village" && ["county", "city", "province"].includes(own.level))) continue;
      const children = await api("/regions", { query: { parent: region.code } });
      for (const child of children) {
        places[child.code] = child;
        next.push(child);
      }
    }
    frontier = next;
  }
  return places;
}

export async function logout() {
  try {
    await api("/auth/logout", { method: "POST" });
  } catch {
    /* offline or already expired: the token dies on its own */
  }
  await store.wipe();
  publish(null);
}

// ------------------------------------------------------------------ what a role may do

export const roleMay = (role, action) => (ROLE_ACTIONS[role] || []).includes(action);
export const isLeader = (role) => role !== "grid_worker";
export const filesScreening = (role) => ["grid_worker", "village_leader", "town_officer", "county_officer"].includes(role);
export const isOfficer = (role) => ["village_leader", "town_officer", "county_officer", "admin"].includes(role);
