// Shared pieces of the interface: routing by hash, hooks for stored data, form fields that
// always carry a label, the windowed list and the deadline light.

import { h } from "preact";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import * as store from "./lib/db.js";
import { subscribe, syncState } from "./lib/sync.js";
import { LIGHT_NAMES } from "./lib/cases.js";

export const html = htm.bind(h);

// ------------------------------------------------------------------ routing

export function currentRoute() {
  const hash = location.hash.replace(/^#/, "") || "/cases";
  const [path, query = ""] = hash.split("?");
  return { path, parts: path.split("/").filter(Boolean), query: new URLSearchParams(query) };
}

export function useRoute() {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const changed = () => setRoute(currentRoute());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export const go = (path) => {
  location.hash = "#" + path;
};

// ------------------------------------------------------------------ data hooks

/** Run ``load`` on mount, when ``deps`` change and after every sync step. */
export function useStored(load, deps = []) {
  const [value, setValue] = useState(undefined);
  const [error, setError] = useState(null);
  const latest = useRef(0);
  const reload = useCallback(() => {
    const ticket = ++latest.current;
    Promise.resolve()
      .then(load)
      .then(
        (result) => ticket === latest.current && (setValue(result), setError(null)),
        (failure) => ticket === latest.current && setError(failure),
      );
  }, deps);
  useEffect(() => {
    reload();
    return subscribe(reload);
  }, [reload]);
  return [value, reload, error];
}

export function useOnline() {
  const [online, setOnline] = useState(navigator.onLine !== false);
  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    addEventListener("online", up);
    addEventListener("offline", down);
    return () => {
      removeEventListener("online", up);
      removeEventListener("offline", down);
    };
  }, []);
  return online;
}

export function useSyncInfo() {
  const [info] = useStored(async () => {
    const [settings, outbox, uploads] = await Promise.all([store.allSettings(), store.outboxItems(), store.allUploads()]);
    return {
      pending: outbox.filter((row) => row.state === store.PENDING).length,
      problems: outbox.filter((row) => row.status === "rejected" || row.status === "conflict").length,
      uploadsPending: uploads.filter((job) => job.state === "pending").length,
      uploadsFailed: uploads.filter((job) => job.state === "failed").length,
      lastSyncAt: settings.last_sync_at || null,
      revoked: !!settings.revoked,
      running: syncState.running,
      error: syncState.error,
      nextRetryAt: syncState.nextRetryAt,
    };
  });
  return info;
}

// ------------------------------------------------------------------ forms

let fieldIds = 0;
const useFieldId = () => useRef(`f${++fieldIds}`).current;

/** A labelled control with its hint and error, wired for screen readers. */
export function Field({ label, error, hint, required, children, id: given }) {
  const generated = useFieldId();
  const id = given || generated;
  const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || undefined;
  const control = children({ id, "aria-describedby": described, "aria-invalid": error ? "true" : undefined, required });
  return html`<div class=${"field" + (error ? " invalid" : "")}>
    <label for=${id}>${label}${required ? html`<span class="req" aria-hidden="true"> *</span>` : null}</label>
    ${control}
    ${hint ? html`<p class="hint" id=${`${id}-hint`}>${hint}</p>` : null}
    ${error ? html`<p class="error" id=${`${id}-error`} role="alert">${error}</p>` : null}
  </div>`;
}

export function TextInput({ label, value, onInput, error, hint, required, type = "text", ...rest }) {
  return html`<${Field} label=${label} error=${error} hint=${hint} required=${required}>
    ${(wired) => html`<input ...${wired} ...${rest} type=${type} value=${value ?? ""} onInput=${(e) => onInput(e.currentTarget.value)} />`}
  <//>`;
}

export function TextArea({ label, value, onInput, error, hint, required, rows = 3, ...rest }) {
  return html`<${Field} label=${label} error=${error} hint=${hint} required=${required}>
    ${(wired) => html`<textarea ...${wired} ...${rest} rows=${rows} value=${value ?? ""} onInput=${(e) => onInput(e.currentTarget.value)} />`}
  <//>`;
}

/** ``options``: [[value, text], ...]. */
export function Select({ label, value, onChange, options, error, hint, required, placeholder, ...rest }) {
  return html`<${Field} label=${label} error=${error} hint=${hint} required=${required}>
    ${(wired) => html`<select ...${wired} ...${rest} value=${value ?? ""} onChange=${(e) => onChange(e.currentTarget.value)}>
      ${placeholder !== undefined ? html`<option value="">${placeholder}</option>` : null}
      ${options.map(([key, text]) => html`<option value=${key}>${text}</option>`)}
    </select>`}
  <//>`;
}

export function Check({ label, checked, onChange, hint }) {
  const id = useFieldId();
  return html`<div class="check">
    <input type="checkbox" id=${id} checked=${!!checked} onChange=${(e) => onChange(e.currentTarget.checked)}
      aria-describedby=${hint ? `${id}-hint` : undefined} />
    <label for=${id}>${label}</label>
    ${hint ? html`<p class="hint" id=${`${id}-hint`}>${hint}</p>` : null}
  </div>`;
}

/** Put keyboard focus on the first field that has an error. */
export function focusFirstError(form) {
  requestAnimationFrame(() => form?.querySelector("[aria-invalid=true]")?.focus());
}

// ------------------------------------------------------------------ pieces

export function Light({ light }) {
  const key = light || "none";
  return html`<span class=${`light light-${key}`} role="img" aria-label=${LIGHT_NAMES[key]} title=${LIGHT_NAMES[key]}></span>`;
}

export function Notice({ kind = "info", children }) {
  return html`<div class=${`notice notice-${kind}`} role=${kind === "error" ? "alert" : "status"}>${children}</div>`;
}

// Diagnostic switch for bench/pwa_bench.py: render every row instead of a window, to
// measure what windowing saves (localStorage "fengqiao.render" = "all").
const RENDER_ALL = (() => {
  try {
    return localStorage.getItem("fengqiao.render") === "all";
  } catch {
    return false;
  }
})();

/**
 * A list that renders only the rows in view (plus a margin): 5,000 cases on a slow phone
 * stay smooth because the DOM holds ~30 rows. Rows have a fixed height.
 */
export function WindowedList({ items, rowHeight, renderRow, label, overscan = 8 }) {
  const box = useRef(null);
  const [view, setView] = useState({ top: 0, height: 600 });
  useLayoutEffect(() => {
    const element = box.current;
    if (!element) return undefined;
    const measure = () => setView({ top: element.scrollTop, height: element.clientHeight || 600 });
    measure();
    const observer = typeof ResizeObserver !== "undefined" ? new ResizeObserver(measure) : null;
    observer?.observe(element);
    return () => observer?.disconnect();
  }, []);
  const onScroll = (event) => {
    const { scrollTop, clientHeight } = event.currentTarget;
    setView({ top: scrollTop, height: clientHeight });
  };
  const first = RENDER_ALL ? 0 : Math.max(0, Math.floor(view.top / rowHeight) - overscan);
  const last = RENDER_ALL ? items.length : Math.min(items.length, Math.ceil((view.top + view.height) / rowHeight) + overscan);
  const rows = [];
  for (let index = first; index < last; index++) rows.push(renderRow(items[index], index));
  return html`<div class="window" ref=${box} onScroll=${onScroll} role="list" aria-label=${label} tabindex="-1">
    <div style=${`height:${items.length * rowHeight}px;position:relative`}>
      <div style=${`position:absolute;top:${first * rowHeight}px;left:0;right:0`}>${rows}</div>
    </div>
  </div>`;
}
