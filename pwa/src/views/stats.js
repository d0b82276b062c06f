// Monthly statistics of a region (GET /api/v1/statistics, docs/statistics.md) with charts
// drawn as plain SVG: a chart library would cost more than this whole app. Loaded on
// demand, so the first load of a field worker's phone does not carry it.

import { useEffect, useState } from "preact/hooks";
import { html, Notice, Select, TextInput } from "../ui.js";
import { api, download } from "../lib/api.js";
import { getCached, putCached } from "../lib/db.js";
import { BREAKDOWN_NAMES, COUNT_NAMES, RATE_NAMES } from "../lib/statistics-names.js";

const COLORS = ["#b02626", "#d98e04", "#2f6f4f", "#2b5d9b", "#7a4b9a", "#8a6d3b"];

function lastMonth() {
  const now = new Date(Date.now() + 8 * 3600_000); // China time
  const month = now.getUTCMonth(); // 0-based: the previous month
  const year = month === 0 ? now.getUTCFullYear() - 1 : now.getUTCFullYear();
  return `${year}-${String(month === 0 ? 12 : month).padStart(2, "0")}`;
}

/** Horizontal bars: one row per item, the value written at the bar's end. */
function Bars({ title, items, format = (v) => String(v), max }) {
  const top = max ?? Math.max(1, ...items.map((item) => item.value));
  const row = 26;
  const height = items.length * row + 8;
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <svg viewBox=${`0 0 440 ${height}`} width="100%" role="img" aria-label=${title}>
      ${items.map((item, index) => {
        const width = top ? (item.value / top) * 170 : 0;
        const y = index * row + 4;
        return html`<g key=${item.label}>
          <text x="0" y=${y + 16} font-size="12">${item.label.length > 9 ? item.label.slice(0, 9) + "…" : item.label}</text>
          <rect x="120" y=${y + 4} width=${Math.max(width, item.value ? 2 : 0)} height="16" fill=${item.color || COLORS[0]} rx="2" />
          <text x=${124 + width} y=${y + 16} font-size="12">${format(item.value, item)}</text>
        </g>`;
      })}
    </svg>
    <table class="sr-only"><caption>${title}</caption>
      <tbody>${items.map((item) => html`<tr key=${item.label}><th scope="row">${item.label}</th><td>${format(item.value, item)}</td></tr>`)}</tbody>
    </table>
  </figure>`;
}

/** Registered petitions and civil disputes per step of the period, side by side. */
function Trend({ trend }) {
  if (!trend.length) return null;
  const top = Math.max(1, ...trend.map((t) => Math.max(t.petitions, t.civil_disputes)));
  const step = 340 / trend.length;
  const bar = Math.max(2, step / 2 - 2);
  return html`<figure class="chart">
    <figcaption>登记件数走势（<span style="color:${COLORS[0]}">■</span> 信访事项 <span style="color:${COLORS[2]}">■</span> 民间纠纷）</figcaption>
    <svg viewBox="0 0 360 160" width="100%" role="img" aria-label="登记件数走势">
      ${trend.map((t, i) => {
        const x = 10 + i * step;
        const hp = (t.petitions / top) * 120;
        const hc = (t.civil_disputes / top) * 120;
        return html`<g key=${t.label}>
          <rect x=${x} y=${130 - hp} width=${bar} height=${hp} fill=${COLORS[0]} />
          <rect x=${x + bar + 1} y=${130 - hc} width=${bar} height=${hc} fill=${COLORS[2]} />
          ${trend.length <= 12 || i % Math.ceil(trend.length / 8) === 0
            ? html`<text x=${x} y="148" font-size="10">${t.label}</text>`
            : null}
        </g>`;
      })}
      <line x1="8" y1="130" x2="352" y2="130" stroke="#888" />
    </svg>
    <table class="sr-only"><caption>登记件数走势</caption>
      <thead><tr><th>期间</th><th>信访事项</th><th>民间纠纷</th></tr></thead>
      <tbody>${trend.map((t) => html`<tr key=${t.label}><th scope="row">${t.label}</th><td>${t.petitions}</td><td>${t.civil_disputes}</td></tr>`)}</tbody>
    </table>
  </figure>`;
}

const percent = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`);

export default function Statistics({ user }) {
  const [period, setPeriod] = useState(lastMonth);
  const [region, setRegion] = useState(user.node_code);
  const [places, setPlaces] = useState({});
  const [figures, setFigures] = useState(null);
  const [failure, setFailure] = useState(null);
  const [message, setMessage] = useState(null);
  useEffect(() => {
    getCached("places").then((value) => setPlaces(value || {}));
  }, []);
  useEffect(() => {
    const key = `statistics:${region}:${period}`;
    setFailure(null);
    api("/statistics", { query: { region, period } }).then(
      (answer) => {
        setFigures(answer);
        putCached(key, answer);
      },
      async (error) => {
        const cached = await getCached(key);
        setFigures(cached || null);
        setFailure(cached ? `${error.message}（显示上次取得的数据）` : error.message);
      },
    );
  }, [region, period]);
  const regions = Object.values(places)
    .filter((place) => place.level !== "grid")
    .map((place) => [place.code, place.name]);
  const pdf = async () => {
    setMessage("正在生成报表…");
    try {
      const saved = await download(`/statistics?region=${region}&period=${period}&format=pdf`, `统计-${period}.pdf`);
      setMessage(`已下载 ${saved.name}`);
    } catch (error) {
      setMessage(error.message);
    }
  };
  return html`<section class="view" aria-labelledby="stats-title">
    <h1 id="stats-title">统计</h1>
    <div class="grid2">
      <${TextInput} label="统计期（如 2026-11、2026-Q4、2026）" value=${period} onInput=${(v) => /^\d{4}(-(\d{2}|Q[1-4]))?$/.test(v) && setPeriod(v)} />
      ${regions.length ? html`<${Select} label="区域" value=${region} onChange=${setRegion} options=${regions} />` : null}
    </div>
    ${failure ? html`<${Notice} kind="error">${failure}</${Notice}>` : null}
    ${figures
      ? html`<p class="lead">${figures.region.name} · ${figures.period.label}${figures.report ? "（月报）" : "（实时统计）"}</p>
          <div class="kpis">
            ${["registered", "accepted", "resolved", "routed_out", "duplicates", "skip_level"]
              .filter((key) => key in figures.counts)
              .map((key) => html`<div class="kpi" key=${key}><span class="kpi-value">${figures.counts[key]}</span><span class="kpi-label">${COUNT_NAMES[key] || key}</span></div>`)}
          </div>
          <${Bars} title="主要指标" max=${1} items=${Object.entries(figures.rates).map(([key, r], i) => ({
            label: RATE_NAMES[key] || key,
            value: r.rate || 0,
            ratio: r,
            color: COLORS[i % COLORS.length],
          }))} format=${(value, item) => `${percent(item.ratio.rate)}（${item.ratio.numerator}/${item.ratio.denominator}）`} />
          <${Trend} trend=${figures.trend || []} />
          ${Object.entries(figures.breakdowns || {}).map(
            ([key, items]) => html`<${Bars} key=${key} title=${BREAKDOWN_NAMES[key] || key}
              items=${items.filter((item) => item.count).map((item) => ({ label: item.name, value: item.count }))} />`,
          )}
          ${figures.units?.length
            ? html`<table class="units"><caption>下级区划</caption>
                <thead><tr><th scope="col">区划</th><th scope="col">登记</th><th scope="col">化解</th><th scope="col">化解率</th></tr></thead>
                <tbody>${figures.units.map(
                  (unit) => html`<tr key=${unit.code}><th scope="row">${unit.name}</th><td>${unit.registered}</td><td>${unit.resolved}</td><td>${percent(unit.resolution.rate)}</td></tr>`,
                )}</tbody></table>`
            : null}
          <div class="actions"><button type="button" class="secondary" onClick=${pdf}>下载统计报表（PDF）</button></div>
          ${message ? html`<p role="status">${message}</p>` : null}`
      : !failure
        ? html`<p class="loading">正在统计…</p>`
        : null}
  </section>`;
}
