// Files after records (docs/sync-protocol.md, Attachments): each queued photo goes up over
// tus 1.0 with tus-js-client, resuming from the byte the server last stored.
//
// The creation request is ours: the server may answer it with Upload-Offset equal to the
// length (it already holds this content), and tus-js-client would then send the first
// chunk anyway. With the upload URL in hand, tus-js-client asks HEAD for the offset and
// PATCHes the rest, retrying on its own.

import { Upload } from "tus-js-client";
import * as store from "./db.js";
import { API, fetchWithTimeout, problemMessage, problemOf } from "./api.js";

const ENDPOINT = `${API}/files/`;
const CHUNK = 256 * 1024; // ~40 s on a 50 kbit/s 2G link: a cut costs at most that
// Statuses that mean the content will never be accepted as it is (shown to the worker).
const PERMANENT = new Set([400, 413, 415, 422]);

const b64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

class UploadFailed extends Error {
  constructor(message, { permanent = false, stop = false } = {}) {
    super(message);
    this.permanent = permanent;
    this.stop = stop;
  }
}

async function create(job, token) {
  let response;
  try {
    response = await fetchWithTimeout(ENDPOINT, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token}`,
        "Tus-Resumable": "1.0.0",
        "Upload-Length": String(job.size),
        "Upload-Metadata": `sha256 ${b64(job.sha256)},filetype ${b64(job.type)},filename ${b64(job.name)}`,
      },
    });
  } catch {
    throw new UploadFailed("网络中断，照片稍后继续上传");
  }
  if (response.status !== 201) {
    const problem = await problemOf(response);
    throw new UploadFailed(problemMessage(problem, response.status), {
      permanent: PERMANENT.has(response.status),
      stop: response.status === 401,
    });
  }
  const url = new URL(response.headers.get("Location"), new URL(ENDPOINT, location.href)).href;
  const offset = Number(response.headers.get("Upload-Offset") || 0);
  await store.updateUpload(job.id, { url, offset });
  return { url, offset };
}

function send(job, url, token) {
  return new Promise((resolve, reject) => {
    const upload = new Upload(job.blob, {
      endpoint: ENDPOINT,
      uploadUrl: url,
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 3000, 5000],
      metadata: { sha256: job.sha256, filetype: job.type, filename: job.name },
      headers: { Authorization: `Bearer ${token}` },
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: true,
      onUploadUrlAvailable() {
        // Expired on the server (404): tus-js-client created it again; keep the new URL.
        if (upload.url && upload.url !== url) store.updateUpload(job.id, { url: upload.url });
      },
      onChunkComplete(_size, accepted) {
        store.updateUpload(job.id, { offset: accepted });
      },
      onSuccess: resolve,
      onError(error) {
        const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
        let message = "网络中断，照片稍后继续上传";
        if (status) {
          try {
            const problem = JSON.parse(error.originalResponse.getBody() || "{}");
            message = problemMessage(problem, status);
          } catch {
            message = `上传失败（${status}）`;
          }
        }
        reject(new UploadFailed(message, { permanent: PERMANENT.has(status), stop: status === 401 }));
      },
    });
    upload.start();
  });
}

/** Upload every pending file; a failure fails no sync (it resumes on the next one). */
export async function uploadFiles(token) {
  const report = { uploaded: 0, errors: [] };
  const jobs = (await store.uploadsIn("pending")).sort((a, b) => a.created_at.localeCompare(b.created_at));
  for (const job of jobs) {
    try {
      let { url, offset } = job;
      if (!url) ({ url, offset } = await create(job, token));
      if (offset < job.size) await send(job, url, token);
      await store.updateUpload(job.id, { state: "done", offset: job.size, error: null, blob: null });
      report.uploaded += 1;
    } catch (error) {
      report.errors.push(error.message);
      if (error.permanent) await store.updateUpload(job.id, { state: "failed", error: error.message });
      else await store.updateUpload(job.id, { error: error.message });
      if (error.stop || !error.permanent) break; // the link is down or the device revoked: next sync
    }
  }
  return report;
}
