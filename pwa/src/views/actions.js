// What an officer does to a case online, through the REST API (docs/api.md): lifecycle
// actions their role and the case's status allow (the server's ``allowed_actions``),
// the handler, 包案, extensions, revealing identity with a reason, and documents.
// Each answer is shown as the server gives it; a sync then refreshes the phone's copy.

import { useEffect, useRef, useState } from "preact/hooks";
import { Check, focusFirstError, html, Notice, Select, TextArea, TextInput } from "../ui.js";
import { api, download } from "../lib/api.js";
import { requestSync } from "../lib/sync.js";
import { showDate, showTime } from "../lib/util.js";
import {
  ACTION_NAMES,
  EVALUATION_NAMES,
  HANDLING_LEVEL_NAMES,
  OUTCOME_NAMES,
  REASON_REQUIRED,
  ROLE_NAMES,
  ROUTE_NAMES,
} from "../lib/vocabulary.js";

// The payload fields of each action (grid/lifecycle.py PAYLOADS), as form fields.
const SPECS = {
  decline: [{ name: "basis", label: "不予受理的依据", type: "text" }],
  route: [
    { name: "route", label: "分流去向", type: "select", options: Object.entries(ROUTE_NAMES), required: true },
    { name: "organ", label: "接收机关", type: "text", required: true },
  ],
  escalate: [
    {
      name: "to_level",
      label: "上报至",
      type: "select",
      options: Object.entries(HANDLING_LEVEL_NAMES),
      placeholder: "上一级",
    },
  ],
  refer_down: [
    { name: "to_level", label: "交由", type: "select", options: Object.entries(HANDLING_LEVEL_NAMES), required: true },
    { name: "organ", label: "接收的下级机关或组织", type: "text" },
  ],
  start_mediation: [
    { name: "consenting_party_ids", label: "同意调解的当事人", type: "parties", required: true },
    { name: "informed_of_rights", label: "已告知调解的性质、当事人的权利和义务", type: "check", required: true },
  ],
  refuse_mediation: [{ name: "party_id", label: "拒绝或要求终止调解的当事人", type: "party", required: true }],
  record_session: [{ name: "summary", label: "调解情况", type: "textarea", required: true }],
  fail_mediation: [
    {
      name: "routes_told",
      label: "已告知的其他途径",
      type: "multi",
      options: [
        ["arbitration", "仲裁"],
        ["administrative", "行政途径"],
        ["litigation", "诉讼"],
      ],
      required: true,
    },
  ],
  reach_agreement: [
    {
      name: "form",
      label: "协议形式",
      type: "select",
      options: [
        ["written", "书面协议"],
        ["oral", "口头协议"],
      ],
      required: true,
    },
    { name: "content", label: "协议内容", type: "textarea", required: true },
    { name: "performance_manner", label: "履行方式", type: "text" },
    { name: "performance_deadline", label: "履行期限", type: "text" },
  ],
  sign_agreement: [
    { name: "party_ids", label: "已签名的当事人", type: "parties" },
    { name: "mediator_signed", label: "调解员已签名", type: "check" },
    { name: "committee_sealed", label: "已加盖调解委员会印章", type: "check" },
  ],
  follow_up: [{ name: "summary", label: "回访情况", type: "textarea", required: true }],
  confirm_performance: [{ name: "summary", label: "履行情况", type: "textarea", required: true }],
  report_nonperformance: [{ name: "summary", label: "未履行情况", type: "textarea", required: true }],
  reply: [
    { name: "outcome", label: "处理意见", type: "select", options: Object.entries(OUTCOME_NAMES), required: true },
    { name: "request", label: "信访请求", type: "textarea", required: true },
    { name: "facts_and_reasons", label: "查明的事实和理由", type: "textarea", required: true },
    { name: "decision", label: "处理意见内容", type: "textarea", required: true },
    { name: "legal_basis", label: "依据", type: "text", required: true },
  ],
  evaluate: [
    { name: "evaluation", label: "信访人评价", type: "select", options: Object.entries(EVALUATION_NAMES), required: true },
  ],
  record_hearing: [{ name: "days", label: "听证天数", type: "number", required: true }],
  record_visit: [{ name: "summary", label: "走访情况", type: "textarea", required: true }],
  add_note: [{ name: "text", label: "备注内容", type: "textarea", required: true }],
  close: [{ name: "resolution", label: "办结情况", type: "textarea" }],
};
SPECS.decide_review = SPECS.reply;
SPECS.decide_rereview = SPECS.reply;

function ActionForm({ caseRead, action, onDone, onCancel }) {
  const spec = SPECS[action] || [];
  const needsReason = REASON_REQUIRED.includes(action);
  const [values, setValues] = useState({});
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);
  const formRef = useRef(null);
  const set = (name) => (value) => setValues({ ...values, [name]: value });
  const parties = caseRead.parties.map((party) => [party.id, party.name]);

  const submit = async (event) => {
    event.preventDefault();
    const found = {};
    if (needsReason && !(values.reason || "").trim()) found.reason = "请说明理由";
    for (const field of spec) {
      const value = values[field.name];
      const empty = value === undefined || value === "" || value === false || (Array.isArray(value) && !value.length);
      if (field.required && empty) found[field.name] = `请填写“${field.label}”`;
    }
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(formRef.current);
    const data = {};
    for (const field of spec) {
      const value = values[field.name];
      if (value === undefined || value === "") continue;
      data[field.name] = field.type === "number" ? Number(value) : value;
    }
    setBusy(true);
    setFailure(null);
    try {
      const updated = await api(`/cases/${caseRead.id}/transitions`, {
        method: "POST",
        body: { action, reason: (values.reason || "").trim() || null, data, expected_version: caseRead.version },
      });
      onDone(updated, doneMessage(action));
    } catch (error) {
      setFailure(error.message);
    } finally {
      setBusy(false);
    }
  };

  const control = (field) => {
    const common = { key: field.name, label: field.label, error: errors[field.name], required: field.required };
    if (field.type === "select")
      return html`<${Select} ...${common} value=${values[field.name]} onChange=${set(field.name)} options=${field.options}
        placeholder=${field.placeholder ?? "请选择"} />`;
    if (field.type === "party")
      return html`<${Select} ...${common} value=${values[field.name]} onChange=${set(field.name)} options=${parties} placeholder="请选择" />`;
    if (field.type === "textarea") return html`<${TextArea} ...${common} value=${values[field.name]} onInput=${set(field.name)} />`;
    if (field.type === "check") return html`<${Check} key=${field.name} label=${field.label} checked=${values[field.name]} onChange=${set(field.name)} />`;
    if (field.type === "parties" || field.type === "multi") {
      const options = field.type === "parties" ? parties : field.options;
      const chosen = values[field.name] || [];
      return html`<fieldset key=${field.name} class="choices">
        <legend>${field.label}</legend>
        ${options.map(
          ([value, text]) => html`<${Check} key=${value} label=${text} checked=${chosen.includes(value)}
            onChange=${(on) => set(field.name)(on ? [...chosen, value] : chosen.filter((item) => item !== value))} />`,
        )}
        ${errors[field.name] ? html`<p class="error" role="alert">${errors[field.name]}</p>` : null}
      </fieldset>`;
    }
    return html`<${TextInput} ...${common} type=${field.type === "number" ? "number" : "text"} value=${values[field.name]} onInput=${set(field.name)} />`;
  };

  return html`<form class="action-form" ref=${formRef} onSubmit=${submit} novalidate aria-label=${ACTION_NAMES[action]}>
    <h3>${ACTION_NAMES[action]}</h3>
    ${needsReason
      ? html`<${TextArea} label="理由" required value=${values.reason} onInput=${set("reason")} error=${errors.reason} />`
      : !spec.length
        ? html`<${TextInput} label="说明（可不填）" value=${values.reason} onInput=${set("reason")} />`
        : null}
    ${spec.map(control)}
    ${failure ? html`<${Notice} kind="error">${failure}</${Notice}>` : null}
    <div class="actions">
      <button type="submit" disabled=${busy}>${busy ? "正在提交…" : `确认${ACTION_NAMES[action]}`}</button>
      <button type="button" class="secondary" onClick=${onCancel}>取消</button>
    </div>
  </form>`;
}

// ------------------------------------------------------------------ handler and 包案

let usersCache = null;
async function usersInScope() {
  if (!usersCache) usersCache = api("/users").catch((error) => ((usersCache = null), Promise.reject(error)));
  return usersCache;
}

const LEADER_ROLES = new Set(["village_leader", "town_officer", "county_officer"]);

function AssignForm({ caseRead, onDone, onCancel }) {
  const [users, setUsers] = useState([]);
  const [userId, setUserId] = useState(caseRead.assigned_to || "");
  const [reason, setReason] = useState("");
  const [failure, setFailure] = useState(null);
  useEffect(() => {
    usersInScope().then(setUsers, (error) => setFailure(error.message));
  }, []);
  const submit = async (event) => {
    event.preventDefault();
    try {
      const updated = await api(`/cases/${caseRead.id}/assignment`, {
        method: "POST",
        body: { user_id: userId || null, reason: reason.trim() || null },
      });
      onDone(updated, userId ? "已指定承办人" : "已取消承办人");
    } catch (error) {
      setFailure(error.message);
    }
  };
  return html`<form class="action-form" onSubmit=${submit} aria-label="指定承办人">
    <h3>指定承办人</h3>
    <${Select} label="承办人" value=${userId} onChange=${setUserId} placeholder="不指定"
      options=${users.filter((u) => u.active && u.role !== "admin").map((u) => [u.id, `${u.display_name}（${ROLE_NAMES[u.role]}）`])} />
    <${TextInput} label="说明" value=${reason} onInput=${setReason} />
    ${failure ? html`<${Notice} kind="error">${failure}</${Notice}>` : null}
    <div class="actions"><button type="submit">确认指定</button><button type="button" class="secondary" onClick=${onCancel}>取消</button></div>
  </form>`;
}

function LeadForm({ caseRead, onDone, onCancel }) {
  const [users, setUsers] = useState([]);
  const [values, setValues] = useState({ leader_id: "", measures: "", target_date: "", responsibility: "" });
  const [errors, setErrors] = useState({});
  const [failure, setFailure] = useState(null);
  const formRef = useRef(null);
  useEffect(() => {
    usersInScope().then(setUsers, (error) => setFailure(error.message));
  }, []);
  const set = (name) => (value) => setValues({ ...values, [name]: value });
  const submit = async (event) => {
    event.preventDefault();
    const found = {};
    if (!values.leader_id) found.leader_id = "请选择包案领导";
    if (!values.measures.trim()) found.measures = "请填写包案措施";
    if (!values.target_date) found.target_date = "请选择办结时限";
    if (!values.responsibility.trim()) found.responsibility = "请填写责任分工";
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(formRef.current);
    try {
      await api(`/cases/${caseRead.id}/lead`, { method: "PUT", body: values });
      onDone(null, "已确定包案领导");
    } catch (error) {
      setFailure(error.message);
    }
  };
  return html`<form class="action-form" ref=${formRef} onSubmit=${submit} novalidate aria-label="包案">
    <h3>包案（定领导、定措施、定时间、定责任）</h3>
    <${Select} label="包案领导" required value=${values.leader_id} onChange=${set("leader_id")} error=${errors.leader_id}
      placeholder="请选择" options=${users.filter((u) => u.active && LEADER_ROLES.has(u.role)).map((u) => [u.id, `${u.display_name}（${ROLE_NAMES[u.role]}）`])} />
    <${TextArea} label="包案措施" required value=${values.measures} onInput=${set("measures")} error=${errors.measures} />
    <${TextInput} label="办结时限" type="date" required value=${values.target_date} onInput=${set("target_date")} error=${errors.target_date} />
    <${TextArea} label="责任分工" required value=${values.responsibility} onInput=${set("responsibility")} error=${errors.responsibility} />
    ${failure ? html`<${Notice} kind="error">${failure}</${Notice}>` : null}
    <div class="actions"><button type="submit">确认包案</button><button type="button" class="secondary" onClick=${onCancel}>取消</button></div>
  </form>`;
}

function ExtensionRequests({ caseRead, onDone }) {
  const [items, setItems] = useState(null);
  const [failure, setFailure] = useState(null);
  const [asking, setAsking] = useState(false);
  const [days, setDays] = useState("30");
  const [reason, setReason] = useState("");
  const load = () => api(`/cases/${caseRead.id}/extension-requests`).then(setItems, (error) => setFailure(error.message));
  useEffect(() => {
    load();
  }, [caseRead.version]);
  const decide = async (request, decision) => {
    try {
      await api(`/cases/${caseRead.id}/extension-requests/${request.id}/decision`, {
        method: "POST",
        body: { decision, note: decision === "approve" ? "同意延期" : "不同意延期" },
      });
      onDone(null, decision === "approve" ? "已批准延期" : "已不批准延期");
    } catch (error) {
      setFailure(error.message);
    }
  };
  const ask = async (event) => {
    event.preventDefault();
    try {
      await api(`/cases/${caseRead.id}/extension-requests`, { method: "POST", body: { days: Number(days), reason } });
      setAsking(false);
      onDone(null, "已申请延期");
    } catch (error) {
      setFailure(error.message);
    }
  };
  if (caseRead.status !== "in_handling" && !(items || []).length) return null;
  return html`<section class="extensions" aria-label="延期">
    <h3>延长办理期限</h3>
    ${(items || []).map(
      (item) => html`<div class="card" key=${item.id}>
        <p>${item.requested_by_name} 申请延长 ${item.days} 日（${item.status_name}）：${item.reason}</p>
        ${item.status === "pending"
          ? html`<div class="actions">
              <button type="button" onClick=${() => decide(item, "approve")}>批准延期</button>
              <button type="button" class="secondary" onClick=${() => decide(item, "refuse")}>不批准</button>
            </div>`
          : null}
      </div>`,
    )}
    ${caseRead.status === "in_handling" && !asking
      ? html`<button type="button" class="secondary" onClick=${() => setAsking(true)}>申请延期</button>`
      : null}
    ${asking
      ? html`<form class="action-form" onSubmit=${ask}>
          <${TextInput} label="延长天数（1-30）" type="number" min="1" max="30" value=${days} onInput=${setDays} />
          <${TextArea} label="延期理由（将告知信访人）" required value=${reason} onInput=${setReason} />
          <div class="actions"><button type="submit">提交申请</button></div>
        </form>`
      : null}
    ${failure ? html`<${Notice} kind="error">${failure}</${Notice}>` : null}
  </section>`;
}

function RevealIdentity({ caseRead }) {
  const [reason, setReason] = useState("");
  const [shown, setShown] = useState(null);
  const [failure, setFailure] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    if (reason.trim().length < 4) return setFailure("请说明查看理由（至少4个字），将记入访问日志");
    try {
      setShown(await api(`/cases/${caseRead.id}/identity`, { method: "POST", body: { reason: reason.trim() } }));
      setFailure(null);
    } catch (error) {
      setFailure(error.message);
    }
  };
  return html`<section aria-label="查看身份信息">
    <h3>查看当事人身份信息</h3>
    ${shown
      ? html`<ul class="parties">${shown.map(
          (p) => html`<li key=${p.id}><strong>${caseRead.parties.find((party) => party.id === p.id)?.name || ""}</strong>
            ${p.id_number || ""} ${p.phone || ""} ${p.address || ""}</li>`,
        )}</ul>`
      : html`<form onSubmit=${submit}>
          <${TextInput} label="查看理由（记入访问日志）" value=${reason} onInput=${setReason} />
          <div class="actions"><button type="submit" class="secondary">查看身份信息</button></div>
        </form>`}
    ${failure ? html`<${Notice} kind="error">${failure}</${Notice}>` : null}
  </section>`;
}

function Documents({ caseRead }) {
  const [kinds, setKinds] = useState(null);
  const [message, setMessage] = useState(null);
  useEffect(() => {
    api(`/cases/${caseRead.id}/documents`).then(setKinds, () => setKinds([]));
  }, [caseRead.version]);
  const fetchPdf = async (path, fallback) => {
    setMessage("正在生成…");
    try {
      const saved = await download(path, fallback);
      setMessage(`已下载 ${saved.name}（${Math.round(saved.size / 1024)} KB）`);
    } catch (error) {
      setMessage(error.message);
    }
  };
  return html`<section aria-label="文书">
    <h3>文书与案卷</h3>
    <div class="actions">
      ${(kinds || []).map(
        (kind) => html`<button type="button" class="secondary" key=${kind.kind} data-kind=${kind.kind}
          onClick=${() => fetchPdf(kind.path, `${kind.title}.pdf`)}>下载${kind.title}</button>`,
      )}
      <button type="button" class="secondary" onClick=${() => fetchPdf(`/cases/${caseRead.id}/case-file`, "案卷.pdf")}>下载案卷</button>
    </div>
    ${message ? html`<p role="status">${message}</p>` : null}
  </section>`;
}

export function OfficerActions({ user, caseId, version }) {
  const [caseRead, setCaseRead] = useState(null);
  const [lead, setLead] = useState(null);
  const [open, setOpen] = useState(null);
  const [message, setMessage] = useState(null);
  const [failure, setFailure] = useState(null);
  const load = () =>
    Promise.all([api(`/cases/${caseId}`), api(`/cases/${caseId}/lead`).catch(() => null)]).then(
      ([read, leadRead]) => {
        setCaseRead(read);
        setLead(leadRead);
      },
      (error) => setFailure(error.message),
    );
  useEffect(() => {
    load();
  }, [caseId, version]);
  if (failure) return html`<${Notice} kind="error">${failure}</${Notice}>`;
  if (!caseRead) return html`<p class="loading">正在读取办理信息…</p>`;
  const done = (updated, text) => {
    setOpen(null);
    setMessage(text);
    if (updated) setCaseRead(updated);
    else load();
    requestSync();
  };
  const cancel = () => setOpen(null);
  const actions = caseRead.allowed_actions.filter((action) => !["record_visit", "add_note", "record_session"].includes(action));
  return html`<section class="officer" aria-labelledby="officer-title">
    <h2 id="officer-title">办理</h2>
    ${message ? html`<${Notice}>${message}</${Notice}>` : null}
    ${lead?.current
      ? html`<p>包案领导：${lead.current.leader_name}，办结时限 ${showDate(lead.current.target_date)}</p>`
      : null}
    ${caseRead.deadline
      ? html`<p>时限：${caseRead.deadline.name}，${showDate(caseRead.deadline.last_day)} 前（${showTime(caseRead.deadline.ends_at)} 截止）</p>`
      : null}
    <div class="actions" role="group" aria-label="办理操作">
      ${actions.map(
        (action) => html`<button type="button" key=${action} aria-expanded=${open === action}
          onClick=${() => setOpen(open === action ? null : action)}>${ACTION_NAMES[action]}</button>`,
      )}
      ${user.role !== "village_mediator"
        ? html`<button type="button" class="secondary" aria-expanded=${open === "assign"} onClick=${() => setOpen("assign")}>指定承办人</button>
            <button type="button" class="secondary" aria-expanded=${open === "lead"} onClick=${() => setOpen("lead")}>包案</button>`
        : null}
    </div>
    ${open === "assign" ? html`<${AssignForm} caseRead=${caseRead} onDone=${done} onCancel=${cancel} />` : null}
    ${open === "lead" ? html`<${LeadForm} caseRead=${caseRead} onDone=${done} onCancel=${cancel} />` : null}
    ${open && !["assign", "lead"].includes(open)
      ? html`<${ActionForm} key=${open} caseRead=${caseRead} action=${open} onDone=${done} onCancel=${cancel} />`
      : null}
    <${ExtensionRequests} caseRead=${caseRead} onDone=${done} />
    <${Documents} caseRead=${caseRead} />
    <${RevealIdentity} caseRead=${caseRead} />
  </section>`;
}

// "已" + the action's name reads as Chinese for verbs (已受理, 已办结); records and the
// petitioner's own steps need their own words.
const DONE_MESSAGES = {
  add_note: "已添加备注",
  evaluate: "已记录信访人评价",
  follow_up: "已记录回访",
  record_hearing: "已记录听证",
  record_session: "已记录调解",
  record_visit: "已记录走访",
  request_judicial_confirmation: "已记录司法确认申请",
  request_review: "已登记复查申请",
  request_rereview: "已登记复核申请",
  reply: "已出具信访处理意见书",
};

function doneMessage(action) {
  return DONE_MESSAGES[action] || `已${ACTION_NAMES[action]}`;
}
