// The sync state the worker can trust: what waits on the phone, when it last reached the
// server, what went wrong, and every record the server refused or held, with its reason.

import { html, Notice, useOnline, useStored, useSyncInfo } from "../ui.js";
import * as store from "../lib/db.js";
import { requestSync } from "../lib/sync.js";
import { showTime } from "../lib/util.js";
import { logout } from "../lib/session.js";
import { mutationName } from "./detail.js";

async function load() {
  const [outbox, cases, uploads] = await Promise.all([store.outboxItems(), store.allCases(), store.allUploads()]);
  const titles = Object.fromEntries(cases.map((c) => [c.id, c.title]));
  for (const row of outbox) if (row.type === "create_case") titles[row.case_id] ||= row.mutation.data.title;
  return {
    pending: outbox.filter((row) => row.state === store.PENDING).sort((a, b) => a.seq - b.seq),
    problems: outbox.filter((row) => row.status === "rejected" || row.status === "conflict").sort((a, b) => b.seq - a.seq),
    uploads: uploads.filter((job) => job.state !== "done"),
    titles,
  };
}

function subject(row, titles) {
  if (row.type === "file_screening_report") {
    const data = row.mutation.data;
    return `${data.period_start} 至 ${data.period_end}${data.zero_report ? "（零报告）" : ""}`;
  }
  return titles[row.case_id] || "（案件）";
}

export function SyncView() {
  const info = useSyncInfo();
  const online = useOnline();
  const [data] = useStored(load);
  if (!info || !data) return html`<p class="loading">正在读取…</p>`;
  const leave = async () => {
    if (info.pending && !confirm(`还有 ${info.pending} 条记录未同步，退出后将从本机删除。确定退出？`)) return;
    await logout();
  };
  return html`<section class="view" aria-labelledby="sync-title">
    <h1 id="sync-title">同步</h1>
    <dl class="facts" data-testid="sync-facts">
      <dt>网络</dt><dd>${online ? "已联网" : "无网络（记录保存在本机）"}</dd>
      <dt>待同步</dt><dd data-testid="pending-count">${info.pending} 条</dd>
      <dt>待上传照片</dt><dd>${info.uploadsPending} 张${info.uploadsFailed ? `，${info.uploadsFailed} 张失败` : ""}</dd>
      <dt>上次同步</dt><dd data-testid="last-sync">${info.lastSyncAt ? showTime(info.lastSyncAt) : "从未同步"}</dd>
    </dl>
    ${info.revoked ? html`<${Notice} kind="error">本设备已被停用，已停止同步（手机上的数据仍保留）。</${Notice}>` : null}
    ${info.error ? html`<${Notice} kind="error">${info.error.message}${info.nextRetryAt ? `（${showTime(info.nextRetryAt)} 自动重试）` : ""}</${Notice}>` : null}
    <div class="actions">
      <button type="button" onClick=${() => requestSync()} disabled=${info.running || info.revoked}>
        ${info.running ? "正在同步…" : "立即同步"}
      </button>
    </div>

    <h2>未能同步的记录 <span class="count">${data.problems.length}</span></h2>
    ${data.problems.length
      ? html`<ul class="problems" aria-label="未能同步的记录">
          ${data.problems.map(
            (row) => html`<li key=${row.id} class="problem" data-code=${row.code}>
              <strong>${mutationName(row)}</strong> · <a href=${row.type === "file_screening_report" ? "#/screening" : `#/case/${row.case_id}`}>${subject(row, data.titles)}</a>
              <span class="badge">${row.status === "conflict" ? "冲突，待审核" : "被拒绝"}</span>
              <p class="reason">${row.message || row.code}</p>
              <p class="small">${row.code} · ${showTime(row.acknowledged_at)}</p>
            </li>`,
          )}
        </ul>`
      : html`<p class="empty">没有。</p>`}

    <h2>待同步的记录 <span class="count">${data.pending.length}</span></h2>
    ${data.pending.length
      ? html`<ul class="pending" aria-label="待同步的记录">
          ${data.pending.map(
            (row) => html`<li key=${row.id}>${mutationName(row)} · ${subject(row, data.titles)} <span class="small">${showTime(row.created_at)}</span></li>`,
          )}
        </ul>`
      : html`<p class="empty">全部已同步。</p>`}
    ${data.uploads.length
      ? html`<h2>照片</h2><ul>${data.uploads.map(
          (job) => html`<li key=${job.id}>${job.name}（${Math.round(job.size / 1024)} KB）
            ${job.state === "failed" ? `上传失败：${job.error}` : `已传 ${Math.round((job.offset / job.size) * 100)}%`}</li>`,
        )}</ul>`
      : null}
    <h2>账号</h2>
    <div class="actions"><button type="button" class="secondary" onClick=${leave}>退出登录</button></div>
  </section>`;
}
