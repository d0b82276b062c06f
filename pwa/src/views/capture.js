// Door-to-door capture: a new case, its parties, GPS and photos, saved on the phone at
// once (the outbox) and sent when there is a network. Fields are checked as the server
// checks them (lib/identity.js), so a typo is fixed at the door.

import { useRef, useState } from "preact/hooks";
import { Check, focusFirstError, go, html, Notice, Select, TextArea, TextInput, useStored } from "../ui.js";
import { getCached } from "../lib/db.js";
import { idNumberProblem, phoneProblem } from "../lib/identity.js";
import { resizePhoto, photoName } from "../lib/photo.js";
import { attachFile, captureCase, requestSync } from "../lib/sync.js";
import { uuid7 } from "../lib/util.js";
import { CHANNEL_NAMES, KIND_NAMES, RISK_NAMES } from "../lib/vocabulary.js";

const ROLES = [
  ["applicant", "申请人（信访人）"],
  ["respondent", "对方当事人"],
  ["third_party", "第三人"],
];
const PARTY_KINDS = [
  ["person", "个人"],
  ["organisation", "单位"],
];

const newParty = (role = "applicant") => ({
  key: uuid7(),
  kind: "person",
  role,
  name: "",
  id_number: "",
  id_unknown: false,
  id_unknown_reason: "",
  phone: "",
  address: "",
  is_representative: false,
});

const blank = () => ({
  kind: "civil_dispute",
  category: "",
  channel: "door_to_door",
  title: "",
  request: "",
  facts: "",
  reasons: "",
  risk: "low",
  people_involved: "1",
  is_collective: false,
  village_code: "",
  grid_code: "",
  parties: [newParty()],
});

function validate(form, user) {
  const errors = {};
  const required = (name, text) => {
    if (!String(form[name] || "").trim()) errors[name] = text;
  };
  required("category", "请选择纠纷类别");
  required("title", "请填写标题");
  required("request", "请填写当事人的诉求");
  const people = Number(form.people_involved);
  if (!Number.isInteger(people) || people < 1) errors.people_involved = "涉及人数应为1以上的整数";
  if (user.role !== "grid_worker" && !form.village_code && !form.grid_code) errors.village_code = "请选择案件所在的村（社区）";
  form.parties.forEach((party, index) => {
    const at = (field) => `parties.${index}.${field}`;
    if (!party.name.trim()) errors[at("name")] = "请填写姓名或单位名称";
    if (party.kind === "person") {
      const problem = idNumberProblem(party.id_unknown ? "" : party.id_number, party.id_unknown ? party.id_unknown_reason : null);
      if (problem) errors[at(party.id_unknown ? "id_unknown_reason" : "id_number")] = problem.message;
    }
    const phone = phoneProblem(party.phone);
    if (phone) errors[at("phone")] = phone.message;
  });
  if (!form.parties.length) errors.parties = "至少登记一名当事人";
  return errors;
}

function body(form, location) {
  const data = {
    kind: form.kind,
    category: form.category,
    channel: form.channel,
    title: form.title.trim(),
    request: form.request.trim(),
    facts: form.facts.trim(),
    reasons: form.reasons.trim(),
    risk: form.risk,
    people_involved: Number(form.people_involved),
    is_collective: form.is_collective,
    parties: form.parties.map((party) => {
      const out = { kind: party.kind, role: party.role, name: party.name.trim(), is_representative: party.is_representative };
      if (party.kind === "person") {
        if (party.id_unknown) out.id_unknown_reason = party.id_unknown_reason.trim();
        else out.id_number = party.id_number.trim();
      }
      if (party.phone.trim()) out.phone = party.phone.trim();
      if (party.address.trim()) out.address = party.address.trim();
      return out;
    }),
  };
  if (form.grid_code) data.grid_code = form.grid_code;
  if (form.village_code) data.village_code = form.village_code;
  if (location) data.location = location;
  return data;
}

function PartyFields({ party, index, errors, update, remove, canRemove }) {
  const at = (field) => errors[`parties.${index}.${field}`];
  const set = (field) => (value) => update({ ...party, [field]: value });
  return html`<fieldset class="party">
    <legend>当事人 ${index + 1}</legend>
    <div class="grid2">
      <${Select} label="身份" value=${party.role} onChange=${set("role")} options=${ROLES} />
      <${Select} label="类别" value=${party.kind} onChange=${set("kind")} options=${PARTY_KINDS} />
    </div>
    <${TextInput} label=${party.kind === "person" ? "姓名" : "单位名称"} required value=${party.name} onInput=${set("name")} error=${at("name")} autocomplete="off" />
    ${party.kind === "person"
      ? html`${party.id_unknown
            ? html`<${TextInput} label="无法提供身份证号的原因" required value=${party.id_unknown_reason}
                onInput=${set("id_unknown_reason")} error=${at("id_unknown_reason")} hint="例如：未带证件、记不清" />`
            : html`<${TextInput} label="身份证号" value=${party.id_number} onInput=${set("id_number")} error=${at("id_number")}
                inputmode="text" autocomplete="off" hint="18位；末位可为X" />`}
          <${Check} label="身份证号不详" checked=${party.id_unknown} onChange=${set("id_unknown")} />`
      : null}
    <${TextInput} label="联系电话" type="tel" value=${party.phone} onInput=${set("phone")} error=${at("phone")}
      autocomplete="off" hint="手机号或带区号的座机号" />
    <${TextInput} label="住址" value=${party.address} onInput=${set("address")} autocomplete="off" />
    <${Check} label="代表人（群体性事项推选的代表）" checked=${party.is_representative} onChange=${set("is_representative")} />
    ${canRemove ? html`<button type="button" class="secondary" onClick=${remove}>删除当事人 ${index + 1}</button>` : null}
  </fieldset>`;
}

export function Capture({ user }) {
  const [reference] = useStored(async () => ({
    categories: (await getCached("categories"))?.items || [],
    places: (await getCached("places")) || {},
  }));
  const [form, setForm] = useState(blank);
  const [errors, setErrors] = useState({});
  const [location, setLocation] = useState(null);
  const [locating, setLocating] = useState(null);
  const [photos, setPhotos] = useState([]);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(null);
  const formRef = useRef(null);
  const set = (name) => (value) => setForm({ ...form, [name]: value });

  const locate = () => {
    if (!navigator.geolocation) {
      setLocating("本机不支持定位");
      return;
    }
    setLocating("正在定位…");
    navigator.geolocation.getCurrentPosition(
      (position) => {
        const { latitude, longitude, accuracy } = position.coords;
        setLocation({ latitude, longitude, accuracy_m: Math.round(accuracy) });
        setLocating(null);
      },
      (failure) => setLocating(failure.code === 1 ? "未获得定位权限" : "定位失败，可稍后重试"),
      { enableHighAccuracy: true, timeout: 20_000, maximumAge: 60_000 },
    );
  };

  const addPhotos = async (files) => {
    const made = [];
    for (const file of files) {
      try {
        const resized = await resizePhoto(file);
        made.push({ key: uuid7(), name: photoName(file), ...resized, url: URL.createObjectURL(resized.blob) });
      } catch {
        made.push({ key: uuid7(), name: file.name, error: "无法读取这张照片" });
      }
    }
    setPhotos([...photos, ...made]);
  };

  const submit = async (event) => {
    event.preventDefault();
    const found = validate(form, user);
    setErrors(found);
    if (Object.keys(found).length) {
      focusFirstError(formRef.current);
      return;
    }
    setSaving(true);
    const caseId = uuid7();
    await captureCase(body(form, location), caseId);
    for (const photo of photos.filter((item) => item.blob)) await attachFile(caseId, photo.blob, photo.name);
    for (const photo of photos) if (photo.url) URL.revokeObjectURL(photo.url);
    setSaving(false);
    setSaved(caseId);
    setForm(blank());
    setPhotos([]);
    setLocation(null);
    if (navigator.onLine !== false) requestSync();
    go(`/case/${caseId}`);
  };

  if (!reference) return html`<p class="loading">正在读取…</p>`;
  const villages = Object.values(reference.places).filter((place) => place.level === "village");
  const grids = Object.values(reference.places).filter(
    (place) => place.level === "grid" && (!form.village_code || place.parent_code === form.village_code),
  );
  return html`<section class="view form-view" aria-labelledby="capture-title">
    <h1 id="capture-title">采集案件</h1>
    <p class="lead">没有网络也能保存，联网后自动上传。</p>
    ${saved ? html`<${Notice}>已保存在本机，等待同步。</${Notice}>` : null}
    <form ref=${formRef} onSubmit=${submit} novalidate>
      <div class="grid2">
        <${Select} label="事项类型" value=${form.kind} onChange=${set("kind")} options=${Object.entries(KIND_NAMES)} required />
        <${Select} label="纠纷类别" value=${form.category} onChange=${set("category")} error=${errors.category} required
          placeholder="请选择" options=${reference.categories.map((c) => [c.code, c.name])} />
      </div>
      <div class="grid2">
        <${Select} label="来源渠道" value=${form.channel} onChange=${set("channel")} options=${Object.entries(CHANNEL_NAMES)} />
        <${Select} label="风险等级" value=${form.risk} onChange=${set("risk")} options=${Object.entries(RISK_NAMES)} />
      </div>
      ${user.role !== "grid_worker"
        ? html`<div class="grid2">
            ${villages.length
              ? html`<${Select} label="所在村（社区）" value=${form.village_code} onChange=${(v) => setForm({ ...form, village_code: v, grid_code: "" })}
                  error=${errors.village_code} required placeholder="请选择" options=${villages.map((p) => [p.code, p.name])} />`
              : null}
            ${grids.length
              ? html`<${Select} label="网格" value=${form.grid_code} onChange=${set("grid_code")} placeholder="不指定"
                  options=${grids.map((p) => [p.code, p.name])} />`
              : null}
          </div>`
        : null}
      <${TextInput} label="标题" required value=${form.title} onInput=${set("title")} error=${errors.title} maxlength="200" hint="一句话概括，如“邻里排水沟纠纷”" />
      <${TextArea} label="诉求" required value=${form.request} onInput=${set("request")} error=${errors.request} />
      <${TextArea} label="事实经过" value=${form.facts} onInput=${set("facts")} />
      <${TextArea} label="理由" value=${form.reasons} onInput=${set("reasons")} />
      <div class="grid2">
        <${TextInput} label="涉及人数" type="number" min="1" inputmode="numeric" value=${form.people_involved}
          onInput=${set("people_involved")} error=${errors.people_involved} />
        <${Check} label="群体性事项" checked=${form.is_collective} onChange=${set("is_collective")} />
      </div>

      <h2>当事人</h2>
      ${errors.parties ? html`<p class="error" role="alert">${errors.parties}</p>` : null}
      ${form.parties.map(
        (party, index) => html`<${PartyFields} key=${party.key} party=${party} index=${index} errors=${errors}
          canRemove=${form.parties.length > 1}
          update=${(changed) => setForm({ ...form, parties: form.parties.map((p, i) => (i === index ? changed : p)) })}
          remove=${() => setForm({ ...form, parties: form.parties.filter((_, i) => i !== index) })} />`,
      )}
      <button type="button" class="secondary" onClick=${() => setForm({ ...form, parties: [...form.parties, newParty("respondent")] })}>
        添加当事人
      </button>

      <h2>位置与照片</h2>
      <div class="locate">
        <button type="button" class="secondary" onClick=${locate}>获取当前位置</button>
        <span aria-live="polite">${location
          ? `纬度 ${location.latitude.toFixed(5)}，经度 ${location.longitude.toFixed(5)}（误差约 ${location.accuracy_m} 米）`
          : locating || "未定位"}</span>
      </div>
      <div class="field">
        <label for="photos">照片（拍照或从相册选择，会在本机压缩）</label>
        <input id="photos" type="file" accept="image/*" capture="environment" multiple
          onChange=${(e) => {
            addPhotos([...e.currentTarget.files]);
            e.currentTarget.value = "";
          }} />
      </div>
      ${photos.length
        ? html`<ul class="photos">
            ${photos.map(
              (photo) => html`<li key=${photo.key}>
                ${photo.url ? html`<img src=${photo.url} alt=${`照片 ${photo.name}`} width="96" height="72" />` : null}
                <span>${photo.error || `${photo.width}×${photo.height}，${Math.round(photo.blob.size / 1024)} KB`}</span>
                <button type="button" class="link" onClick=${() => setPhotos(photos.filter((p) => p !== photo))}>移除</button>
              </li>`,
            )}
          </ul>`
        : null}
      <div class="actions">
        <button type="submit" disabled=${saving}>${saving ? "正在保存…" : "保存"}</button>
      </div>
    </form>
  </section>`;
}
