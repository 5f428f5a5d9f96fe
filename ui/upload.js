// Uploads with progress. A file under LARGE_FILE goes up as one multipart
// request; a larger one over tus 1.0 in CHUNK-sized PATCHes,
// so a dropped connection costs at most one chunk: after a failure the
// upload asks the server for its durable offset and goes on from there. Its
// URL is kept in localStorage until it ends, so the same file dropped again
// after a reload (or a crash of the browser) goes on where it stopped.
// A file may go up under another name, or replace the file of its name.
// Uploads go to the signed-in user's own space, or through an upload link
// (`linkSpace`), with the link as the credential.

import { authHeaders, errorOf } from './api.js';

export const LARGE_FILE = 64 * 1024 * 1024;
const CHUNK = 8 * 1024 * 1024;
const TUS = { 'Tus-Resumable': '1.0.0' };
// Pauses between attempts after a network failure, in seconds.
const RETRY_DELAYS = [1, 2, 4, 8, 15, 30];

// Where uploads go, and as whom: the signed-in user's own space.
const ownSpace = {
  headers: () => authHeaders(),
  formUrl: '/api/v1/files/',
  uploadsUrl: '/api/v1/uploads/',
  owner: () => sessionStorage.getItem('depot.username'),
  // The form names the file and its session; tus' metadata likewise.
  named: true,
  // The stored file, as its metadata says (the last PATCH stored it).
  async stored(name) {
    const xhr = await send('GET', `/api/v1/files/${encodeURIComponent(name)}`, { headers: authHeaders() });
    if (xhr.status !== 200) throw await apiErrorOf(xhr);
    return JSON.parse(xhr.responseText);
  },
};

// An upload link's holder's space: the files land in the link owner's, under
// names the server gives them, which the holder cannot read back.
export function linkSpace(base, password) {
  return {
    headers: () => (password ? { 'X-Link-Password': password } : {}),
    formUrl: base,
    uploadsUrl: `${base}/uploads/`,
    owner: () => base,
    named: false,
    stored: async (name) => ({ file_name: name }),
  };
}

// Starts uploading `file` as `name` (default: its own), replacing a file of
// that name if `replace`; `progress(sent, total)` is called as bytes leave.
// Returns { done: Promise<file view>, cancel(): Promise } — `done` rejects
// with `cancelled` once the server has let go of what it held.
export function upload(file, { name = file.name, replace = false, description, session, progress, space = ownSpace }) {
  const options = { name, replace, description, session, progress, space };
  const job = file.size >= LARGE_FILE ? new Resumable(file, options) : new OneRequest(file, options);
  return { done: job.run(), cancel: () => job.cancel() };
}

const sleep = (seconds) => new Promise((resolve) => { setTimeout(resolve, seconds * 1000); });

class Cancelled extends Error {
  constructor() { super('cancelled'); this.cancelled = true; }
}

// One XMLHttpRequest (fetch cannot report upload progress), as a promise of
// its status, headers and body; network failures reject with `network: true`.
function send(method, url, { headers = {}, body = null, onProgress, onXhr }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onProgress) xhr.upload.addEventListener('progress', (event) => onProgress(event.loaded));
    xhr.addEventListener('load', () => resolve(xhr));
    xhr.addEventListener('error', () => reject(Object.assign(new Error('the connection failed'), { network: true })));
    xhr.addEventListener('abort', () => reject(new Cancelled()));
    onXhr?.(xhr);
    xhr.send(body);
  });
}

// An XMLHttpRequest's error response as ApiError, through the same parsing as fetch's.
function apiErrorOf(xhr) {
  const headers = { 'Content-Type': xhr.getResponseHeader('Content-Type') || 'text/plain' };
  return errorOf(new Response(xhr.responseText || null, { status: xhr.status, headers }));
}

class OneRequest {
  constructor(file, options) {
    Object.assign(this, { file, ...options });
  }

  async run() {
    const form = new FormData();
    if (this.space.named) {
      form.append('file_name', this.name);
      if (this.session) form.append('session_id', this.session);
      if (this.description) form.append('description', this.description);
    }
    form.append('file', this.file, this.file.name);
    const url = this.space.named && this.replace ? `${this.space.formUrl}?replace=true` : this.space.formUrl;
    const xhr = await send('POST', url, {
      headers: this.space.headers(),
      body: form,
      onProgress: (loaded) => this.progress(Math.min(loaded, this.file.size), this.file.size),
      onXhr: (xhr) => { this.xhr = xhr; },
    });
    if (xhr.status !== 201) throw await apiErrorOf(xhr);
    this.progress(this.file.size, this.file.size);
    return JSON.parse(xhr.responseText);
  }

  cancel() {
    this.xhr?.abort();
    return Promise.resolve();
  }
}

class Resumable {
  constructor(file, options) {
    Object.assign(this, { file, ...options, cancelled: false });
  }

  // The same user's (or link's) same file (name, size, modification time)
  // going up under the same name finds its upload again.
  get key() {
    const { size, lastModified } = this.file;
    return `depot.upload:${this.space.owner()}:${this.name}:${size}:${lastModified}`;
  }

  // The headers of every tus request.
  headers() {
    return { ...this.space.headers(), ...TUS };
  }

  async run() {
    try {
      return await this.send();
    } catch (error) {
      // Cancelled only once the server has ended the upload (or it fails to).
      if (error.cancelled) await this.ended;
      // Cancelled or refused: a later drop starts afresh. One that gave up on
      // the network stays, for the same file dropped again to go on.
      if (error.cancelled || error.status) localStorage.removeItem(this.key);
      throw error;
    }
  }

  async send() {
    let offset = await this.resumed();
    if (offset === null) {
      this.url = await this.create();
      localStorage.setItem(this.key, this.url);
      offset = 0;
    }
    this.progress(offset, this.file.size);
    if (offset === this.file.size) {
      localStorage.removeItem(this.key);
      return this.space.stored(this.name);
    }
    let failures = 0;
    while (true) {
      try {
        const xhr = await this.patch(offset);
        if (xhr.status === 204) {
          offset = Number(xhr.getResponseHeader('Upload-Offset'));
          failures = 0;
          this.progress(offset, this.file.size);
          if (offset === this.file.size) {
            localStorage.removeItem(this.key);
            return this.space.stored(this.name);
          }
          continue;
        }
        // Another writer (423), a stale offset or a server fault: ask where it
        // stands. Anything else (the name taken, a refused dataset …) is final.
        const error = await apiErrorOf(xhr);
        if (error.code !== 'offset_mismatch' && xhr.status !== 423 && xhr.status < 500) throw error;
      } catch (error) {
        if (!error.network) throw error;
      }
      if (failures === RETRY_DELAYS.length) throw new Error('the connection failed repeatedly; try again later');
      await this.pause(RETRY_DELAYS[failures]);
      failures += 1;
      offset = await this.durableOffset();
      this.progress(offset, this.file.size);
    }
  }

  // The durable offset of this file's earlier upload, if the server still has it.
  async resumed() {
    const url = localStorage.getItem(this.key);
    if (!url) return null;
    const xhr = await send('HEAD', url, { headers: this.headers() }).catch(() => null);
    if (xhr?.status !== 200) {
      localStorage.removeItem(this.key);
      return null;
    }
    this.url = url;
    return Number(xhr.getResponseHeader('Upload-Offset'));
  }

  async create() {
    const fields = this.space.named
      ? [
        ['file_name', this.name], ['filename', this.file.name], ['session_id', this.session],
        ['description', this.description], ['replace', this.replace ? 'true' : ''],
      ]
      : [['filename', this.file.name]];
    const metadata = fields
      .filter(([, value]) => value)
      .map(([key, value]) => `${key} ${base64(value)}`)
      .join(',');
    const xhr = await send('POST', this.space.uploadsUrl, {
      headers: { ...this.headers(), 'Upload-Length': String(this.file.size), 'Upload-Metadata': metadata },
      onXhr: (xhr) => { this.xhr = xhr; },
    });
    if (xhr.status !== 201) throw await apiErrorOf(xhr);
    return new URL(xhr.getResponseHeader('Location'), location.href).pathname;
  }

  patch(offset) {
    const end = Math.min(offset + CHUNK, this.file.size);
    return send('PATCH', this.url, {
      headers: {
        ...this.headers(),
        'Upload-Offset': String(offset),
        'Content-Type': 'application/offset+octet-stream',
      },
      body: this.file.slice(offset, end),
      onProgress: (loaded) => this.progress(offset + Math.min(loaded, end - offset), this.file.size),
      onXhr: (xhr) => { this.xhr = xhr; },
    });
  }

  // The bytes the server holds for good; network failures here are retried too.
  async durableOffset() {
    for (const delay of [0, ...RETRY_DELAYS]) {
      await this.pause(delay);
      try {
        const xhr = await send('HEAD', this.url, { headers: this.headers(), onXhr: (xhr) => { this.xhr = xhr; } });
        if (xhr.status === 200) return Number(xhr.getResponseHeader('Upload-Offset'));
        throw await apiErrorOf(xhr);
      } catch (error) {
        if (!error.network) throw error;
      }
    }
    throw new Error('the server cannot be reached; try again later');
  }

  pause(seconds) {
    return new Promise((resolve, reject) => {
      if (this.cancelled) reject(new Cancelled());
      setTimeout(() => (this.cancelled ? reject(new Cancelled()) : resolve()), seconds * 1000);
    });
  }

  cancel() {
    this.cancelled = true;
    this.xhr?.abort();
    this.ended ??= this.url ? this.terminate() : Promise.resolve();
    return this.ended;
  }

  // Ends the upload on the server, asking again while it answers 423 (a
  // chunk still being written), fails or cannot be reached.
  async terminate() {
    for (const delay of [0, ...RETRY_DELAYS]) {
      await sleep(delay);
      const xhr = await send('DELETE', this.url, { headers: this.headers() }).catch(() => null);
      if (xhr && [204, 404, 410].includes(xhr.status)) return;
      if (xhr && xhr.status !== 423 && xhr.status < 500) throw await apiErrorOf(xhr);
    }
    throw new Error('the server did not end the upload; its bytes go when it expires');
  }
}

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

