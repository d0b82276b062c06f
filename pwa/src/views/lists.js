// The case lists: "我的案件" for the worker and the region's list with filters and counts
// for leaders. Both read the phone's own store, so they work with no signal.

import { useMemo, useState } from "preact/hooks";
import { html, Light, Select, TextInput, useStored, WindowedList } from "../ui.js";
import { byUrgency, lightOf, LIGHT_NAMES, listCases, searchText, serverNow } from "../lib/cases.js";
import { getCached } from "../lib/db.js";
import { HANDLING_LEVEL_NAMES, STATUS_NAMES } from "../lib/vocabulary.js";
import { showDate } from "../lib/util.js";

const ROW_HEIGHT = 64;
const CLOSED = new Set(["closed"]);

async function loadCases(user) {
  const [cases, now, categories, places] = await Promise.all([
    listCases(user),
    serverNow(),
    getCached("categories"),
    getCached("places"),
  ]);
  for (const item of cases) item.light = lightOf(item, now);
  cases.sort(byUrgency);
  const categoryNames = Object.fromEntries((categories?.items || []).map((c) => [c.code, c.name]));
  return { cases, categoryNames, places: places || {} };
}

function CaseRow({ item, categoryNames }) {
  const number = item.no || (item.local ? "待同步" : "未编号");
  return html`<a class="row" role="listitem" href=${`#/case/${item.id}`} style=${`height:${ROW_HEIGHT}px`}>
    <${Light} light=${item.light} />
    <span class="row-main">
      <span class="row-title">${item.title}</span>
      <span class="row-meta">${number} · ${STATUS_NAMES[item.st] || item.st} · ${categoryNames[item.cat] || item.cat}</span>
    </span>
    <span class="row-side">
      ${item.local ? html`<span class="badge badge-pending">待同步</span>` : null}
      <span class="row-date">${showDate(item.at)}</span>
    </span>
  </a>`;
}

export function MyCases({ user }) {
  const [data] = useStored(() => loadCases(user), [user.id]);
  const [query, setQuery] = useState("");
  const [mineOnly, setMineOnly] = useState(false);
  const [openOnly, setOpenOnly] = useState(true);
  const shown = useMemo(() => {
    if (!data) return [];
    const needle = query.trim().toLowerCase();
    return data.cases.filter(
      (item) =>
        (!mineOnly || item.by === user.id || item.local) &&
        (!openOnly || !CLOSED.has(item.st)) &&
        (!needle || searchText(item).includes(needle)),
    );
  }, [data, query, mineOnly, openOnly]);
  if (!data) return html`<p class="loading">正在读取本机案件…</p>`;
  return html`<section class="view list-view" aria-labelledby="my-cases-title">
    <h1 id="my-cases-title">我的案件</h1>
    <div class="toolbar">
      <${TextInput} label="搜索（编号、标题、当事人）" type="search" value=${query} onInput=${setQuery} />
      <div class="toggles">
        <label><input type="checkbox" checked=${mineOnly} onChange=${(e) => setMineOnly(e.currentTarget.checked)} /> 只看我登记的</label>
        <label><input type="checkbox" checked=${openOnly} onChange=${(e) => setOpenOnly(e.currentTarget.checked)} /> 只看未办结</label>
      </div>
    </div>
    <p class="count" aria-live="polite">共 <span data-testid="case-count">${shown.length}</span> 件</p>
    ${shown.length
      ? html`<${WindowedList} label="案件列表" items=${shown} rowHeight=${ROW_HEIGHT}
          renderRow=${(item) => html`<${CaseRow} key=${item.id} item=${item} categoryNames=${data.categoryNames} />`} />`
      : html`<p class="empty">没有符合条件的案件。新采集的案件在“采集”中登记。</p>`}
  </section>`;
}

function counted(cases, key, names) {
  const counts = new Map();
  for (const item of cases) counts.set(key(item), (counts.get(key(item)) || 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([value, count]) => [value, `${names(value)}（${count}）`]);
}

const FILTERS = ["status", "level", "light", "category", "village"];

/** The region's cases with filters (status, level, light, category, village) and counts. */
export function RegionCases({ user }) {
  const [data] = useStored(() => loadCases(user), [user.id]);
  const [filters, setFilters] = useState({});
  const keys = {
    status: (item) => item.st,
    level: (item) => item.lv,
    light: (item) => item.light || "none",
    category: (item) => item.cat,
    village: (item) => item.vil || "",
  };
  const view = useMemo(() => {
    if (!data) return null;
    const matches = (item, skip) =>
      FILTERS.every((name) => name === skip || !filters[name] || keys[name](item) === filters[name]);
    const shown = data.cases.filter((item) => matches(item, null));
    // Each filter counts the cases the other filters leave, so its numbers add up to what
    // choosing it would show.
    const names = {
      status: (value) => STATUS_NAMES[value] || value,
      level: (value) => HANDLING_LEVEL_NAMES[value] || value,
      light: (value) => LIGHT_NAMES[value],
      category: (value) => data.categoryNames[value] || value,
      village: (value) => data.places[value]?.name || value || "未定",
    };
    const options = Object.fromEntries(
      FILTERS.map((name) => [name, counted(data.cases.filter((item) => matches(item, name)), keys[name], names[name])]),
    );
    const lights = { red: 0, yellow: 0, green: 0, none: 0 };
    for (const item of shown) lights[item.light || "none"] += 1;
    return { shown, options, lights };
  }, [data, filters]);
  if (!view) return html`<p class="loading">正在读取本机案件…</p>`;
  const set = (name) => (value) => setFilters({ ...filters, [name]: value });
  const labels = { status: "状态", level: "办理层级", light: "预警灯", category: "纠纷类别", village: "村（社区）" };
  return html`<section class="view list-view" aria-labelledby="region-title">
    <h1 id="region-title">辖区案件</h1>
    <div class="filters">
      ${FILTERS.map(
        (name) => html`<${Select} key=${name} label=${labels[name]} value=${filters[name] || ""} onChange=${set(name)}
          placeholder="全部" options=${view.options[name]} />`,
      )}
      <button type="button" class="secondary" onClick=${() => setFilters({})}>清除筛选</button>
    </div>
    <p class="count" aria-live="polite">
      共 <strong data-testid="region-count">${view.shown.length}</strong> 件：
      <span class="tally"><${Light} light="red" /> ${view.lights.red}</span>
      <span class="tally"><${Light} light="yellow" /> ${view.lights.yellow}</span>
      <span class="tally"><${Light} light="green" /> ${view.lights.green}</span>
      <span class="tally">无时限 ${view.lights.none}</span>
    </p>
    ${view.shown.length
      ? html`<${WindowedList} label="辖区案件列表" items=${view.shown} rowHeight=${ROW_HEIGHT}
          renderRow=${(item) => html`<${CaseRow} key=${item.id} item=${item} categoryNames=${data.categoryNames} />`} />`
      : html`<p class="empty">没有符合条件的案件。</p>`}
  </section>`;
}
