// One case: its facts, parties (masked), attachments, the full timeline, entries still
// waiting to be sent, and what the worker may add offline (visits, mediation sessions,
// notes). Officers also get the online actions of their role (views/actions.js).

import { useRef, useState } from "preact/hooks";
import { focusFirstError, go, html, Light, Notice, Select, TextArea, TextInput, Check, useOnline, useStored } from "../ui.js";
import { caseView, lightOf, LIGHT_NAMES, serverNow } from "../lib/cases.js";
import { getCached } from "../lib/db.js";
import { addTransition, editCase, requestSync } from "../lib/sync.js";
import { roleMay, isLeader } from "../lib/session.js";
import { showDate, showTime } from "../lib/util.js";
import {
  ACTION_NAMES,
  ALLOWED_FROM,
  CHANNEL_NAMES,
  CLOCK_NAMES,
  ENTRY_NAMES,
  HANDLING_LEVEL_NAMES,
  KIND_NAMES,
  RISK_NAMES,
  STATUS_NAMES,
} from "../lib/vocabulary.js";
import { OfficerActions } from "./actions.js";

const ROLE_NAMES = { applicant: "申请人", respondent: "对方当事人", third_party: "第三人" };
const TYPE_NAMES = {
  create_case: "登记案件",
  transition: "办理记录",
  edit_case: "修改案件",
  attach_file: "附件",
  file_screening_report: "排查报告",
};

export function mutationName(row) {
  if (row.type === "transition") return ACTION_NAMES[row.mutation.data.action] || row.mutation.data.action;
  return TYPE_NAMES[row.type] || row.type;
}

async function load(id, user) {
  const view = await caseView(id, user);
  if (!view) return { missing: true };
  const [now, categories, places] = await Promise.all([serverNow(), getCached("categories"), getCached("places")]);
  view.light = lightOf(view.snapshot, now);
  view.categoryNames = Object.fromEntries((categories?.items || []).map((c) => [c.code, c.name]));
  view.places = places || {};
  return view;
}

function entryText(entry) {
  const data = entry.d || {};
  const parts = [];
  if (entry.why) parts.push(`理由：${entry.why}`);
  for (const key of ["summary", "text", "content", "decision", "resolution", "organ", "basis"]) {
    if (typeof data[key] === "string" && data[key]) parts.push(data[key]);
  }
  if (data.number && entry.k === "accept") parts.push(`编号 ${data.number}`);
  return parts.join("；");
}

function Timeline({ entries, pending }) {
  const sorted = [...entries].sort((a, b) => a.s - b.s);
  return html`<ol class="timeline" aria-label="办理时间线">
    ${sorted.map(
      (entry) => html`<li key=${entry.id}>
        <div class="tl-head"><strong>${ENTRY_NAMES[entry.k] || entry.k}</strong>
          <time datetime=${entry.at}>${showTime(entry.at)}</time></div>
        <div class="tl-who">${entry.who || ""}${entry.to && entry.from !== entry.to ? ` · ${STATUS_NAMES[entry.to] || entry.to}` : ""}</div>
        ${entryText(entry) ? html`<p>${entryText(entry)}</p>` : null}
      </li>`,
    )}
    ${pending.map(
      (row) => html`<li key=${row.id} class="tl-pending">
        <div class="tl-head"><strong>${mutationName(row)}</strong> <span class="badge badge-pending">待同步</span></div>
        ${row.mutation.data?.data?.summary ? html`<p>${row.mutation.data.data.summary}</p>` : null}
        ${row.mutation.data?.data?.text ? html`<p>${row.mutation.data.data.text}</p>` : null}
      </li>`,
    )}
  </ol>`;
}

export function CaseDetail({ user, id }) {
  const [view] = useStored(() => load(id, user), [id]);
  const online = useOnline();
  if (!view) return html`<p class="loading">正在读取…</p>`;
  if (view.missing) return html`<section class="view"><h1>找不到该案件</h1><p>本机没有这件案件（可能不在您的辖区）。</p><a href="#/cases">返回案件列表</a></section>`;
  const c = view.snapshot;
  const statusAllows = (action) => (ALLOWED_FROM[action] || []).includes(c.st);
  const offline = [
    ["visit", "record_visit", "记录走访"],
    ["session", "record_session", "记录调解"],
    ["note", "add_note", "添加备注"],
  ].filter(([, action]) => roleMay(user.role, action) && statusAllows(action));
  // The level holding a case owns its record; a grid worker corrects only what they
  // captured while it is still in the village (as the server decides, CaseService).
  const editable =
    !c.local && c.st !== "closed" && (user.role !== "grid_worker" || (c.by === user.id && c.lv === "village"));
  if (editable) offline.push(["edit", "edit_case", "修改案件信息"]);
  const village = view.places[c.vil]?.name;
  return html`<article class="view detail" aria-labelledby="case-title">
    <p><a href="#/cases">← 返回</a></p>
    <h1 id="case-title">${c.title}</h1>
    <p class="meta">
      <${Light} light=${view.light} /> ${LIGHT_NAMES[view.light || "none"]}
      · <span data-testid="case-status">${STATUS_NAMES[c.st] || c.st}</span>
      · ${c.no || (c.local ? "待同步，尚未编号" : "未编号")}
      · ${HANDLING_LEVEL_NAMES[c.lv] || c.lv}
    </p>
    ${c.local ? html`<${Notice}>本案件保存在本机，尚未上传。</${Notice}>` : null}
    ${view.problems.map(
      (row) => html`<${Notice} kind="error" key=${row.id}>
        “${mutationName(row)}”${row.status === "conflict" ? "与他人的修改冲突" : "未被服务器接受"}：${row.message || row.code}
      </${Notice}>`,
    )}
    <dl class="facts">
      <dt>事项类型</dt><dd>${KIND_NAMES[c.kind] || c.kind}</dd>
      <dt>纠纷类别</dt><dd>${view.categoryNames[c.cat] || c.cat}</dd>
      <dt>来源渠道</dt><dd>${CHANNEL_NAMES[c.ch] || c.ch}</dd>
      <dt>风险等级</dt><dd>${RISK_NAMES[c.risk] || c.risk}</dd>
      ${village ? html`<dt>村（社区）</dt><dd>${village}</dd>` : null}
      <dt>登记时间</dt><dd>${showTime(c.at)}</dd>
      ${c.due
        ? html`<dt>时限</dt><dd>${CLOCK_NAMES[c.due.k] || c.due.k}：${showDate(c.due.last)} 前${c.due.prov ? "（暂定）" : ""}</dd>`
        : null}
      ${c.loc ? html`<dt>位置</dt><dd>${c.loc[0].toFixed(5)}, ${c.loc[1].toFixed(5)}</dd>` : null}
    </dl>
    <h2>诉求</h2><p class="text">${c.req}</p>
    ${c.facts ? html`<h2>事实经过</h2><p class="text">${c.facts}</p>` : null}
    ${c.why ? html`<h2>理由</h2><p class="text">${c.why}</p>` : null}
    <h2>当事人</h2>
    <ul class="parties">
      ${c.parties.map(
        (p) => html`<li key=${p.id}><strong>${p.n}</strong>（${ROLE_NAMES[p.r] || p.r}${p.rep ? "，代表人" : ""}）
          ${p.idn ? html` 身份证 ${p.idn}` : null}${p.tel ? html` 电话 ${p.tel}` : null}${p.addr ? html` 住址 ${p.addr}` : null}</li>`,
      )}
    </ul>
    ${(c.att || []).length || view.uploads.length
      ? html`<h2>附件</h2>
          <ul class="attachments">
            ${(c.att || []).map((a) => html`<li key=${a.id}>${a.n || a.t}（${Math.round(a.z / 1024)} KB）${a.ok ? " 已上传" : " 等待文件上传"}</li>`)}
            ${view.uploads
              .filter((job) => !(c.att || []).some((a) => a.id === job.id))
              .map((job) => html`<li key=${job.id}>${job.name}（${Math.round(job.size / 1024)} KB）${
                job.state === "done" ? " 已上传" : job.state === "failed" ? ` 上传失败：${job.error}` : " 待上传"
              }</li>`)}
          </ul>`
      : null}
    ${offline.length
      ? html`<div class="actions" role="group" aria-label="记录">
          ${offline.map(([path, , text]) => html`<a class="button" href=${`#/case/${c.id}/${path}`}>${text}</a>`)}
        </div>`
      : null}
    <h2>办理时间线</h2>
    <${Timeline} entries=${c.tl || []} pending=${view.pendingEntries} />
    ${isLeader(user.role) && !c.local
      ? online
        ? html`<${OfficerActions} user=${user} caseId=${c.id} version=${c.v} />`
        : html`<${Notice}>办理操作、文书下载需要联网。</${Notice}>`
      : null}
  </article>`;
}

const ENTRY_FORMS = {
  visit: { action: "record_visit", title: "记录走访" },
  session: { action: "record_session", title: "记录调解" },
  note: { action: "add_note", title: "添加备注" },
};

/** Visits, mediation sessions and notes: timeline entries, saved offline. */
export function EntryForm({ user, id, kind }) {
  const spec = ENTRY_FORMS[kind];
  const [summary, setSummary] = useState("");
  const [risk, setRisk] = useState("");
  const [place, setPlace] = useState("");
  const [participants, setParticipants] = useState("");
  const [violence, setViolence] = useState(false);
  const [error, setError] = useState(null);
  const formRef = useRef(null);
  if (!spec) return html`<p>未知的记录类型</p>`;
  const submit = async (event) => {
    event.preventDefault();
    if (!summary.trim()) {
      setError(kind === "note" ? "请填写备注内容" : "请填写情况");
      focusFirstError(formRef.current);
      return;
    }
    let data;
    if (kind === "visit") data = risk ? { summary: summary.trim(), risk } : { summary: summary.trim() };
    else if (kind === "session")
      data = {
        summary: summary.trim(),
        place: place.trim(),
        participants: participants.split(/[,，、\n]/).map((s) => s.trim()).filter(Boolean),
        violence_risk: violence,
      };
    else data = { text: summary.trim() };
    await addTransition(id, spec.action, null, data);
    if (navigator.onLine !== false) requestSync();
    go(`/case/${id}`);
  };
  return html`<section class="view form-view" aria-labelledby="entry-title">
    <p><a href=${`#/case/${id}`}>← 返回案件</a></p>
    <h1 id="entry-title">${spec.title}</h1>
    <form ref=${formRef} onSubmit=${submit} novalidate>
      <${TextArea} label=${kind === "note" ? "备注内容" : kind === "session" ? "调解情况" : "走访情况"} required rows="5"
        value=${summary} onInput=${setSummary} error=${error} />
      ${kind === "visit"
        ? html`<${Select} label="风险研判" value=${risk} onChange=${setRisk} placeholder="不变"
            options=${Object.entries(RISK_NAMES)} />`
        : null}
      ${kind === "session"
        ? html`<${TextInput} label="调解地点" value=${place} onInput=${setPlace} />
            <${TextInput} label="参加人员（用逗号分隔）" value=${participants} onInput=${setParticipants} />
            <${Check} label="有激化风险" checked=${violence} onChange=${setViolence} />`
        : null}
      <div class="actions"><button type="submit">保存</button></div>
    </form>
  </section>`;
}

const EDITABLE = [
  ["title", "标题"],
  ["request", "诉求"],
  ["facts", "事实经过"],
  ["reasons", "理由"],
];
const SNAPSHOT_KEYS = { title: "title", request: "req", facts: "facts", reasons: "why", risk: "risk" };

/** An edit of the case's descriptive fields, made on the version the phone holds; the
 * server merges it field by field or holds a collision for a reviewer. */
export function EditForm({ user, id }) {
  const [view] = useStored(() => load(id, user), [id]);
  const [values, setValues] = useState(null);
  const [error, setError] = useState(null);
  if (!view) return html`<p class="loading">正在读取…</p>`;
  if (view.missing) return html`<p>找不到该案件</p>`;
  const c = view.snapshot;
  const current = values || Object.fromEntries(Object.entries(SNAPSHOT_KEYS).map(([field, key]) => [field, c[key] || ""]));
  const set = (field) => (value) => setValues({ ...current, [field]: value });
  const submit = async (event) => {
    event.preventDefault();
    const changed = {};
    for (const [field, key] of Object.entries(SNAPSHOT_KEYS)) {
      const value = field === "risk" ? current[field] : current[field].trim();
      if (value !== (c[key] || "")) changed[field] = value;
    }
    if (!Object.keys(changed).length) return setError("没有修改任何内容");
    if (changed.title === "" || changed.request === "") return setError("标题和诉求不能为空");
    await editCase(id, c.v, changed);
    if (navigator.onLine !== false) requestSync();
    go(`/case/${id}`);
  };
  return html`<section class="view form-view" aria-labelledby="edit-title">
    <p><a href=${`#/case/${id}`}>← 返回案件</a></p>
    <h1 id="edit-title">修改案件信息</h1>
    <p class="lead">基于第 ${c.v} 版修改；他人同时修改的内容由服务器逐项合并，冲突的项目交审核。</p>
    <form onSubmit=${submit} novalidate>
      ${EDITABLE.map(([field, label]) =>
        field === "title"
          ? html`<${TextInput} key=${field} label=${label} value=${current[field]} onInput=${set(field)} />`
          : html`<${TextArea} key=${field} label=${label} value=${current[field]} onInput=${set(field)} />`,
      )}
      <${Select} label="风险等级" value=${current.risk} onChange=${set("risk")} options=${Object.entries(RISK_NAMES)} />
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <div class="actions"><button type="submit">保存修改</button></div>
    </form>
  </section>`;
}
