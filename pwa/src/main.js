// The app shell: login, the navigation by role, the sync badge, and the views.

import "./app.css";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { go, html, Notice, TextInput, useOnline, useRoute, useSyncInfo } from "./ui.js";
import { loadSession, login, onSession, relogin, isLeader, filesScreening, isOfficer } from "./lib/session.js";
import { onLoginNeeded } from "./lib/api.js";
import { requestSync, startScheduler } from "./lib/sync.js";
import { showTime } from "./lib/util.js";
import { ROLE_NAMES } from "./lib/vocabulary.js";
import { MyCases, RegionCases } from "./views/lists.js";
import { Capture } from "./views/capture.js";
import { CaseDetail, EditForm, EntryForm } from "./views/detail.js";
import { SyncView } from "./views/syncview.js";
import { Screening } from "./views/screening.js";
import { Inbox } from "./views/inbox.js";

// The statistics view (charts) is a separate chunk, fetched when first opened (and
// precached by the service worker, so it opens offline too).
function Lazy({ load, fallback, ...props }) {
  const [component, setComponent] = useState(null);
  const [failure, setFailure] = useState(null);
  useEffect(() => {
    load().then(
      (module) => setComponent(() => module.default),
      () => setFailure("加载失败，请联网后重试"),
    );
  }, []);
  if (failure) return html`<${Notice} kind="error">${failure}</${Notice}>`;
  return component ? html`<${component} ...${props} />` : fallback;
}
const loadStatistics = () => import("./views/stats.js");

function Login({ onDone, username: fixed }) {
  const [username, setUsername] = useState(fixed || "");
  const [password, setPassword] = useState("");
  const [failure, setFailure] = useState(null);
  const [busy, setBusy] = useState(false);
  const online = useOnline();
  const submit = async (event) => {
    event.preventDefault();
    if (!username.trim() || !password) return setFailure("请输入用户名和密码");
    setBusy(true);
    setFailure(null);
    try {
      await (fixed ? relogin(password) : login(username.trim(), password));
      onDone?.();
    } catch (error) {
      setFailure(error.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login" id="main">
    <form onSubmit=${submit} novalidate aria-labelledby="login-title">
      <h1 id="login-title">枫桥 · 矛盾纠纷排查调处</h1>
      ${fixed ? html`<p>登录已过期，请重新输入密码（本机记录不受影响）。</p>` : null}
      ${!online ? html`<${Notice} kind="error">首次登录需要联网。</${Notice}>` : null}
      ${fixed ? null : html`<${TextInput} label="用户名" value=${username} onInput=${setUsername} autocomplete="username" autocapitalize="off" />`}
      <${TextInput} label="密码" type="password" value=${password} onInput=${setPassword} autocomplete="current-password" />
      ${failure ? html`<${Notice} kind="error">${failure}</${Notice}>` : null}
      <div class="actions"><button type="submit" disabled=${busy}>${busy ? "正在登录…" : "登录"}</button></div>
    </form>
  </main>`;
}

function SyncBadge() {
  const info = useSyncInfo();
  const online = useOnline();
  if (!info) return null;
  const state = info.revoked
    ? "设备已停用"
    : info.running
      ? "正在同步…"
      : info.pending
        ? `待同步 ${info.pending}`
        : info.lastSyncAt
          ? `已同步 ${showTime(info.lastSyncAt).slice(-5)}`
          : "未同步";
  const trouble = info.error || info.problems || info.revoked;
  return html`<a href="#/sync" class=${"sync-badge" + (trouble ? " trouble" : "")} data-testid="sync-badge"
    aria-label=${`同步状态：${online ? "在线" : "离线"}，${state}${info.problems ? `，${info.problems} 条未被接受` : ""}`}>
    <span class=${"dot " + (online ? "online" : "offline")} aria-hidden="true"></span>
    <span>${online ? "" : "离线 · "}${state}</span>
    ${info.problems ? html`<span class="badge badge-error">${info.problems}</span>` : null}
  </a>`;
}

function navFor(user) {
  const items = [["/cases", "案件"]];
  if (user.role !== "admin") items.push(["/new", "采集"]);
  if (isLeader(user.role)) items.push(["/region", "辖区"]);
  if (isOfficer(user.role)) items.push(["/inbox", "待办"]);
  if (filesScreening(user.role)) items.push(["/screening", "排查"]);
  if (isOfficer(user.role) && user.role !== "village_leader") items.push(["/stats", "统计"]);
  items.push(["/sync", "同步"]);
  return items;
}

function View({ user, route }) {
  const [first, id, sub] = route.parts;
  if (first === "case" && id && sub === "edit") return html`<${EditForm} user=${user} id=${id} />`;
  if (first === "case" && id && sub) return html`<${EntryForm} user=${user} id=${id} kind=${sub} />`;
  if (first === "case" && id) return html`<${CaseDetail} user=${user} id=${id} />`;
  if (first === "new") return html`<${Capture} user=${user} />`;
  if (first === "region") return html`<${RegionCases} user=${user} />`;
  if (first === "inbox") return html`<${Inbox} user=${user} />`;
  if (first === "screening") return html`<${Screening} user=${user} />`;
  if (first === "stats")
    return html`<${Lazy} load=${loadStatistics} fallback=${html`<p class="loading">正在加载统计…</p>`} user=${user} />`;
  if (first === "sync") return html`<${SyncView} user=${user} />`;
  return html`<${MyCases} user=${user} />`;
}

function App() {
  const [session, setSession] = useState(undefined);
  const [expired, setExpired] = useState(false);
  const route = useRoute();
  const mainRef = useRef(null);
  // A new release took over (the service worker skips waiting): offer a reload rather
  // than forcing one, so a half-filled form is not lost. Data lives in IndexedDB.
  const [updated, setUpdated] = useState(false);
  useEffect(() => {
    const worker = navigator.serviceWorker;
    if (!worker) return undefined;
    const hadController = !!worker.controller;
    const changed = () => hadController && setUpdated(true);
    worker.addEventListener("controllerchange", changed);
    return () => worker.removeEventListener("controllerchange", changed);
  }, []);
  useEffect(() => {
    loadSession().then(setSession);
    const off = onSession((value) => {
      setSession(value);
      if (value) setExpired(false);
    });
    const offLogin = onLoginNeeded(() => setExpired(true));
    return () => {
      off();
      offLogin();
    };
  }, []);
  // A new view starts at its top with focus on it, as a page load would (screen readers
  // read it from there; the keyboard goes on from there).
  const firstRoute = useRef(true);
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    scrollTo(0, 0);
    mainRef.current?.focus({ preventScroll: true });
  }, [route.path]);
  if (session === undefined) return html`<p class="boot">正在加载…</p>`;
  if (!session) return html`<${Login} onDone=${() => (go("/cases"), requestSync())} />`;
  if (expired) return html`<${Login} username=${session.user.username} onDone=${() => setExpired(false)} />`;
  const user = session.user;
  const nav = navFor(user);
  const active = "/" + (route.parts[0] === "case" ? "cases" : route.parts[0] || "cases");
  return html`<div class="shell">
    <a class="skip" href="#main" onClick=${(e) => (e.preventDefault(), mainRef.current?.focus())}>跳到正文</a>
    <header class="top">
      <span class="brand">枫桥</span>
      <span class="who">${user.display_name} · ${ROLE_NAMES[user.role] || user.role}</span>
      <${SyncBadge} />
    </header>
    <nav class="nav" aria-label="主菜单">
      ${nav.map(
        ([path, text]) => html`<a href=${"#" + path} key=${path} aria-current=${active === path ? "page" : undefined}>${text}</a>`,
      )}
    </nav>
    ${updated
      ? html`<div class="update" role="status">应用已更新。<button type="button" class="link" onClick=${() => location.reload()}>刷新使用新版本</button></div>`
      : null}
    <main id="main" ref=${mainRef} tabindex="-1"><${View} user=${user} route=${route} /></main>
  </div>`;
}

if ("serviceWorker" in navigator) {
  addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch(() => {
      /* no offline shell (e.g. plain http on a LAN address); the app still works online */
    });
  });
}
render(html`<${App} />`, document.getElementById("app"));
startScheduler();
