// The leader's inbox (GET /api/v1/inbox): overdue and soon-due cases, the escalation
// queue, extensions to approve, 督办 replies owed, unread notifications. The last answer
// is kept so the list is still there without signal.

import { html, Light, Notice, useOnline, useStored } from "../ui.js";
import * as store from "../lib/db.js";
import { api } from "../lib/api.js";
import { showDate, showTime } from "../lib/util.js";

async function load() {
  if (navigator.onLine !== false) {
    try {
      const inbox = await api("/inbox", { query: { limit: 50 } });
      await store.putCached("inbox", inbox);
      return { inbox, fresh: true };
    } catch (error) {
      return { inbox: await store.getCached("inbox"), fresh: false, error: error.message };
    }
  }
  return { inbox: await store.getCached("inbox"), fresh: false };
}

function CaseItems({ section }) {
  return html`<ul class="inbox-items">
    ${section.items.map(
      (item) => html`<li key=${item.id}>
        <${Light} light=${item.light} />
        <a href=${`#/case/${item.id}`}>${item.title}</a>
        <span class="small">${item.number || "未编号"} · ${item.status_name}${item.last_day ? ` · ${item.clock_name || "期限"} ${showDate(item.last_day)}` : ""}</span>
      </li>`,
    )}
  </ul>`;
}

export function Inbox() {
  const [data, reload] = useStored(load);
  const online = useOnline();
  if (!data) return html`<p class="loading">正在读取待办…</p>`;
  const { inbox } = data;
  if (!inbox) return html`<section class="view"><h1>待办</h1><${Notice}>需要联网查看待办。</${Notice}></section>`;
  const sections = [
    ["escalated_to_me", "上报待接收", CaseItems],
    ["overdue", "已超期", CaseItems],
    ["due_soon", "即将到期", CaseItems],
  ];
  return html`<section class="view" aria-labelledby="inbox-title">
    <h1 id="inbox-title">待办</h1>
    ${!data.fresh ? html`<${Notice}>${online ? data.error || "无法刷新" : "无网络"}：显示 ${showTime(inbox.generated_at)} 的待办。</${Notice}>` : null}
    <div class="actions"><button type="button" class="secondary" onClick=${reload}>刷新</button></div>
    ${sections.map(
      ([key, title, Items]) => html`<section key=${key} aria-labelledby=${`inbox-${key}`} data-section=${key}>
        <h2 id=${`inbox-${key}`}>${title} <span class="count">${inbox[key].count}</span></h2>
        ${inbox[key].items.length ? html`<${Items} section=${inbox[key]} />` : html`<p class="empty">无</p>`}
      </section>`,
    )}
    <section aria-labelledby="inbox-ext">
      <h2 id="inbox-ext">待批延期 <span class="count">${inbox.extension_approvals.count}</span></h2>
      ${inbox.extension_approvals.items.length
        ? html`<ul class="inbox-items">${inbox.extension_approvals.items.map(
            (item) => html`<li key=${item.request.id}>
              <a href=${`#/case/${item.request.case_id}`}>${item.case_title}</a>
              <span class="small">${item.request.requested_by_name} 申请延长 ${item.request.days} 日；现期限 ${showDate(item.current_last_day)}</span>
            </li>`,
          )}</ul>`
        : html`<p class="empty">无</p>`}
    </section>
    <section aria-labelledby="inbox-sup">
      <h2 id="inbox-sup">待回复督办 <span class="count">${inbox.supervision_replies.count}</span></h2>
      ${inbox.supervision_replies.items.length
        ? html`<ul class="inbox-items">${inbox.supervision_replies.items.map(
            (item) => html`<li key=${item.id}>
              <a href=${`#/case/${item.case_id}`}>${item.case_title}</a>
              <span class="small">${item.reason}；${showDate(item.reply_last_day)} 前回复</span>
            </li>`,
          )}</ul>`
        : html`<p class="empty">无</p>`}
    </section>
    <section aria-labelledby="inbox-note">
      <h2 id="inbox-note">未读通知 <span class="count">${inbox.unread_notifications.count}</span></h2>
      ${inbox.unread_notifications.items.length
        ? html`<ul class="inbox-items">${inbox.unread_notifications.items.map(
            (item) => html`<li key=${item.id}>
              ${item.case_id ? html`<a href=${`#/case/${item.case_id}`}>${item.title}</a>` : html`<strong>${item.title}</strong>`}
              <span class="small">${item.body} · ${showTime(item.created_at)}</span>
            </li>`,
          )}</ul>`
        : html`<p class="empty">无</p>`}
    </section>
  </section>`;
}
