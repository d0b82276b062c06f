// The periodic 排查 report (docs/screening.md), a 零报告 included: filed offline through the
// outbox like every record. The periods come from the server and are kept for offline use.

import { useRef, useState } from "preact/hooks";
import { Check, focusFirstError, html, Notice, Select, TextArea, TextInput, useOnline, useStored } from "../ui.js";
import * as store from "../lib/db.js";
import { api } from "../lib/api.js";
import { fileScreeningReport, requestSync } from "../lib/sync.js";
import { showDate, showTime } from "../lib/util.js";

async function load() {
  let periods = await store.getCached("screening_periods");
  let fresh = false;
  if (navigator.onLine !== false) {
    try {
      periods = await api("/screening/periods");
      await store.putCached("screening_periods", periods);
      fresh = true;
    } catch {
      /* keep the cached list */
    }
  }
  const outbox = await store.outboxItems();
  const filed = outbox.filter((row) => row.type === "file_screening_report");
  return { periods, fresh, filed };
}

const STATUS_CLASS = { on_time: "ok", late: "warn", missing: "bad", pending: "" };

export function Screening({ user }) {
  const [data, reload] = useStored(load);
  const online = useOnline();
  const [period, setPeriod] = useState("");
  const [zero, setZero] = useState(false);
  const [count, setCount] = useState("1");
  const [items, setItems] = useState("");
  const [errors, setErrors] = useState({});
  const [saved, setSaved] = useState(null);
  const formRef = useRef(null);
  if (!data) return html`<p class="loading">正在读取…</p>`;
  if (!data.periods)
    return html`<section class="view"><h1>排查报告</h1>
      <${Notice}>需要联网一次以取得报告期，之后无网络也能填报。</${Notice}></section>`;
  const filedHere = (p) =>
    data.filed.find((row) => row.mutation.data.period_start === p.start && row.mutation.data.period_end === p.end);
  const open = data.periods.periods.filter((p) => !p.report_id && !filedHere(p));
  const submit = async (event) => {
    event.preventDefault();
    const found = {};
    if (!period) found.period = "请选择报告期";
    const lines = items.split("\n").map((line) => line.trim()).filter(Boolean);
    if (!zero) {
      const n = Number(count);
      if (!Number.isInteger(n) || n < 1) found.count = "发现数应为1以上的整数；未发现请选择零报告";
      if (!lines.length) found.items = "请逐条简要说明发现的矛盾纠纷（每行一条）";
      else if (lines.length > n) found.items = "说明的条数不能多于发现数";
    }
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(formRef.current);
    const [start, end] = period.split("/");
    await fileScreeningReport({
      region: data.periods.region,
      period_start: start,
      period_end: end,
      zero_report: zero,
      found_count: zero ? 0 : Number(count),
      items: zero ? [] : lines,
    });
    setSaved(zero ? "零报告已保存，联网后自动报送。" : "排查报告已保存，联网后自动报送。");
    setPeriod("");
    setItems("");
    if (navigator.onLine !== false) requestSync().then(reload);
    else reload();
  };
  return html`<section class="view form-view" aria-labelledby="screening-title">
    <h1 id="screening-title">排查报告</h1>
    <p class="lead">${data.periods.region_name}：按期报送走访排查情况；本期未发现矛盾纠纷也要报“零报告”。</p>
    ${saved ? html`<${Notice}>${saved}</${Notice}>` : null}
    ${!data.fresh ? html`<${Notice}>${online ? "无法取得最新报告期，显示的是上次保存的。" : "无网络：显示的是上次保存的报告期。"}</${Notice}>` : null}
    <table class="periods">
      <caption>报告期</caption>
      <thead><tr><th scope="col">报告期</th><th scope="col">截止</th><th scope="col">状态</th></tr></thead>
      <tbody>
        ${data.periods.periods.map(
          (p) => html`<tr key=${p.start}>
            <td>${p.start} 至 ${p.end}${p.sensitive ? `（${p.sensitive}）` : ""}</td>
            <td>${showDate(p.due_on)}</td>
            <td class=${STATUS_CLASS[p.status] || ""}>${filedHere(p) && !p.report_id ? "已填报，待同步" : p.status_name}${
              p.submitted_at ? `（${showTime(p.submitted_at)}）` : ""
            }</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${open.length
      ? html`<form ref=${formRef} onSubmit=${submit} novalidate>
          <${Select} label="报告期" required value=${period} onChange=${setPeriod} error=${errors.period} placeholder="请选择"
            options=${open.map((p) => [`${p.start}/${p.end}`, `${p.start} 至 ${p.end}（${p.cadence_name}）`])} />
          <${Check} label="零报告（本期未发现矛盾纠纷）" checked=${zero} onChange=${setZero} />
          ${!zero
            ? html`<${TextInput} label="发现的矛盾纠纷数" type="number" min="1" value=${count} onInput=${setCount} error=${errors.count} />
                <${TextArea} label="发现事项（每行一条）" rows="4" value=${items} onInput=${setItems} error=${errors.items} />`
            : null}
          <div class="actions"><button type="submit">${zero ? "报送零报告" : "报送排查报告"}</button></div>
        </form>`
      : html`<p class="empty">近期的报告期都已报送。</p>`}
  </section>`;
}
