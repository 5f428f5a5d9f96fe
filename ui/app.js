// depot's web UI: sign in, upload by drop or picker with progress, browse and
// search your files, preview and share them, and follow this session's
// history; files shared with you and your links (#sharing), API keys (#keys)
// and, for admins, users and invites (#admin).

import { showAdmin } from './admin.js';
import { auth, ensureSession, getJson, request, signIn, signOut, whenSignedOut } from './api.js';
import { setUpDetails, showDetails } from './details.js';
import { showKeys } from './keys.js';
import { setUpShare } from './share.js';
import { showSharing } from './sharing.js';
import { el, humanDate, humanDuration, humanSize, quotaText } from './format.js';
import { upload } from './upload.js';

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;

const view = { page: 1, activeFile: null };

// The tab's session, asked for on sign-in. Uploads wait for it, so that a file
// dropped the moment the list appears still joins the session (and becomes its
// active file).
let sessionReady = Promise.resolve(null);

// ── Sign in and out ────────────────────────────────────────────────────────

const VIEWS = ['files', 'sharing', 'keys', 'admin'];

function showSignIn(message = '') {
  for (const name of VIEWS) $(`${name}-view`).hidden = true;
  $('account').hidden = true;
  $('nav').hidden = true;
  $('auth-view').hidden = false;
  $('auth-error').textContent = message;
  // An invite link (/#invite=…) fills in its code for a new account.
  const invite = location.hash.startsWith('#invite=') ? decodeURIComponent(location.hash.slice(8)) : '';
  if (invite) {
    $('auth-invite').value = invite;
    $('auth-title').textContent = 'Create your depot account';
  }
  $('auth-username').focus();
}

// The page the address names (#files, #keys, #admin), once signed in.
async function route() {
  const asked = location.hash.slice(1);
  const name = VIEWS.includes(asked) && (asked !== 'admin' || auth.admin) ? asked : 'files';
  $('auth-view').hidden = true;
  $('account').hidden = false;
  $('nav').hidden = false;
  $('nav-admin').hidden = !auth.admin;
  $('whoami').textContent = auth.username;
  document.body.classList.toggle('read-only', auth.readOnly);
  for (const view of VIEWS) $(`${view}-view`).hidden = view !== name;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (name === 'keys') return showKeys();
  if (name === 'sharing') return showSharing();
  if (name === 'admin') return showAdmin();
  return showFiles();
}

window.addEventListener('hashchange', () => {
  if (auth.token) route().catch(report);
  else if (location.hash.startsWith('#invite=')) showSignIn();
});

async function showFiles() {
  sessionReady = ensureSession();
  const session = await sessionReady;
  view.activeFile = session.active_file;
  await Promise.all([refreshFiles(), refreshHistory()]);
}

$('auth-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const mode = event.submitter?.value === 'register' ? 'register' : 'login';
  const form = new FormData(event.target);
  $('auth-error').textContent = '';
  try {
    await signIn(mode, form.get('username'), form.get('password'), form.get('invite'));
    event.target.reset();
    $('auth-title').textContent = 'Sign in to depot';
    if (location.hash.startsWith('#invite=')) history.replaceState(null, '', location.pathname);
    await route();
  } catch (error) {
    $('auth-error').textContent = error.message;
  }
});

$('sign-out').addEventListener('click', async () => {
  await signOut();
  $('file-rows').replaceChildren();
  $('history-rows').replaceChildren();
  $('uploads').replaceChildren();
  showSignIn();
});

whenSignedOut(showSignIn);

// ── The file list ──────────────────────────────────────────────────────────

function listQuery() {
  const form = new FormData($('filters'));
  const query = new URLSearchParams({ page: view.page, page_size: PAGE_SIZE, sort: form.get('sort') });
  if (form.get('name')) query.set('name', form.get('name'));
  if (form.get('content_type')) query.set('content_type', form.get('content_type'));
  // Dates are whole local days, from the start of "From" to the end of "To".
  if (form.get('from')) query.set('created_after', new Date(`${form.get('from')}T00:00:00`).toISOString());
  if (form.get('to')) query.set('created_before', new Date(`${form.get('to')}T23:59:59.999`).toISOString());
  return query;
}

// Requests overlap (typing, several uploads ending): only the newest one's
// answer is shown, whatever order the answers arrive in.
const latest = { files: 0, history: 0, session: 0 };

async function refreshFiles() {
  const asked = ++latest.files;
  const [response] = await Promise.all([request(`/api/v1/files/?${listQuery()}`), refreshUsage()]);
  const files = await response.json();
  if (asked !== latest.files) return;
  const total = Number(response.headers.get('X-Total-Count') || files.length);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (view.page > pages) {
    view.page = pages;
    return refreshFiles();
  }
  $('file-rows').replaceChildren(...files.map(fileRow));
  const filtered = [...new FormData($('filters')).entries()].some(([name, value]) => name !== 'sort' && value);
  $('files-empty').hidden = files.length > 0;
  $('files-empty').textContent = filtered ? 'No files match.' : 'No files yet: drop some on this page.';
  $('page-info').textContent = total ? `Page ${view.page} of ${pages} · ${total} files` : '';
  $('page-previous').disabled = view.page <= 1;
  $('page-next').disabled = view.page >= pages;
  showActive();
}

// What the account stores, against its quota when it has one.
async function refreshUsage() {
  const usage = await getJson('/api/v1/usage');
  const { bytes: maxBytes, files: maxFiles } = usage.quota;
  const stored = `${usage.files} files, ${humanSize(usage.logical_bytes)}`;
  let text = `${stored} stored`;
  if (maxBytes || maxFiles) {
    const left = [];
    if (maxBytes) left.push(`${humanSize(Math.max(0, maxBytes - usage.logical_bytes))} left`);
    if (maxFiles) left.push(`${Math.max(0, maxFiles - usage.files)} files left`);
    text = `${stored} of a quota of ${quotaText(usage.quota)} · ${left.join(', ')}`;
  }
  const full = (maxBytes && usage.logical_bytes >= maxBytes) || (maxFiles && usage.files >= maxFiles);
  $('usage-text').textContent = text;
  $('usage').classList.toggle('full', Boolean(full));
  const meter = $('usage-meter');
  meter.hidden = !maxBytes;
  if (maxBytes) {
    Object.assign(meter, { min: 0, max: maxBytes, value: usage.logical_bytes, high: maxBytes * 0.9, optimum: 0 });
  }
}

function fileRow(file) {
  const active = file.file_name === view.activeFile;
  return el(
    'tr',
    { class: active ? 'active' : null, 'data-name': file.file_name },
    el(
      'td',
      { 'data-label': 'Name' },
      el('button', { type: 'button', class: 'link', text: file.file_name, onclick: () => showDetails(file.file_name) }),
      active ? el('span', { class: 'badge', text: 'Active' }) : null,
      file.corrupt ? el('span', { class: 'badge danger', text: 'Corrupt' }) : null,
    ),
    el('td', { 'data-label': 'Size', text: humanSize(file.size) }),
    el('td', { 'data-label': 'Type', class: 'wrap', text: file.content_type }),
    el('td', { 'data-label': 'Created', text: humanDate(file.created_at) }),
    el('td', { 'data-label': 'Description', class: 'wrap', text: file.description }),
    el(
      'td',
      {},
      active
        ? null
        : el('button', {
          type: 'button', class: 'secondary small writes', text: 'Make active',
          'aria-label': `Make ${file.file_name} the active file`, onclick: () => activate(file.file_name),
        }),
    ),
  );
}

function showActive() {
  $('active-file').textContent = view.activeFile
    ? `Active file in this session: ${view.activeFile}`
    : 'No active file in this session yet.';
}

async function activate(name) {
  const active = await getJson(`/api/v1/files/active/${auth.session}`, { method: 'POST', json: { file_name: name } });
  view.activeFile = active.file_name;
  toast(`${name} is now the active file.`);
  await refreshFiles();
}

let searchTimer;
$('filters').addEventListener('input', (event) => {
  clearTimeout(searchTimer);
  view.page = 1;
  const delay = event.target.name === 'name' ? 250 : 0;
  searchTimer = setTimeout(() => refreshFiles().catch(report), delay);
});
$('filters').addEventListener('submit', (event) => event.preventDefault());
$('page-previous').addEventListener('click', () => { view.page -= 1; refreshFiles().catch(report); });
$('page-next').addEventListener('click', () => { view.page += 1; refreshFiles().catch(report); });

setUpShare();
setUpDetails({
  activate,
  deleted: async (name) => {
    if (view.activeFile === name) view.activeFile = null;
    toast(`${name} was deleted.`);
    await Promise.all([refreshFiles(), refreshHistory()]);
  },
});

// ── History ────────────────────────────────────────────────────────────────

async function refreshHistory() {
  const asked = ++latest.history;
  const history = await getJson('/api/ingestion/history?page_size=20');
  if (asked !== latest.history) return;
  $('history-rows').replaceChildren(...history.records.map((record) => el(
    'tr',
    { class: `status-${record.status}` },
    el('td', { 'data-label': 'Status' }, el('span', { class: `badge ${record.status}`, text: record.status })),
    el('td', { 'data-label': 'File', class: 'wrap', text: record.file_name || record.filename }),
    el('td', { 'data-label': 'Size', text: record.size_human || '' }),
    el('td', { 'data-label': 'Started', text: humanDate(record.started_at) }),
    el('td', { 'data-label': 'Error', class: 'wrap', text: record.error_message || '' }),
  )));
  $('history-empty').hidden = history.records.length > 0;
}

// ── Uploads ────────────────────────────────────────────────────────────────

async function uploadAll(files) {
  const description = $('upload-description').value.trim();
  // Without a session (it could not be made) the uploads go on outside one.
  await sessionReady.catch(() => null);
  for (const file of files) startUpload(file, description);
}

function startUpload(file, description) {
  const bar = el('progress', { max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
  const status = el('span', { class: 'upload-status', text: 'Starting…' });
  const cancel = el('button', { type: 'button', class: 'secondary small', text: 'Cancel', 'aria-label': `Cancel the upload of ${file.name}` });
  const item = el('li', { 'data-name': file.name }, el('strong', { class: 'wrap', text: file.name }), bar, status, cancel);
  $('uploads').prepend(item);

  const started = performance.now();
  // Bytes already on the server when this page began (a resumed upload) do not count towards the speed.
  let before = null;
  const job = upload(file, {
    description,
    session: auth.session,
    progress: (sent, total) => {
      before ??= sent;
      const percent = total ? Math.floor((sent / total) * 100) : 100;
      const seconds = (performance.now() - started) / 1000;
      const speed = seconds > 0 ? (sent - before) / seconds : 0;
      const eta = speed > 0 && sent < total ? ` · ${humanDuration((total - sent) / speed)} left` : '';
      bar.value = percent;
      status.textContent = `${humanSize(sent)} of ${humanSize(total)} · ${percent} % · ${humanSize(speed)}/s${eta}`;
    },
  });
  cancel.addEventListener('click', () => job.cancel());

  job.done.then(
    (stored) => {
      bar.value = 100;
      item.classList.add('done');
      status.textContent = `${humanSize(stored.size)} · 100 % · stored`;
      cancel.remove();
      refreshAll();
    },
    (error) => {
      item.classList.add(error.cancelled ? 'cancelled' : 'failed');
      status.textContent = error.cancelled ? 'Cancelled' : `${file.name}: ${error.message}`;
      if (!error.cancelled) status.setAttribute('role', 'alert');
      cancel.remove();
      refreshHistory().catch(report);
    },
  );
}

// The list, the session's active file (the upload that finished last) and history.
function refreshAll() {
  // Answers may cross: only the session asked for last names the active file.
  const asked = ++latest.session;
  const files = ensureSession().then((session) => {
    if (asked === latest.session) view.activeFile = session.active_file;
    return refreshFiles();
  });
  Promise.all([files, refreshHistory()]).catch(report);
}

$('file-input').addEventListener('change', (event) => {
  uploadAll([...event.target.files]);
  event.target.value = '';
});

// Files may be dropped anywhere on the page once signed in.
let dragDepth = 0;
const dropsAllowed = () => !$('files-view').hidden && !auth.readOnly;
document.addEventListener('dragenter', (event) => {
  if (!dropsAllowed()) return;
  event.preventDefault();
  dragDepth += 1;
  $('drop-overlay').hidden = false;
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $('drop-overlay').hidden = true;
});
document.addEventListener('dragover', (event) => event.preventDefault());
document.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  $('drop-overlay').hidden = true;
  if (dropsAllowed() && event.dataTransfer?.files.length) uploadAll([...event.dataTransfer.files]);
});

// ── Messages ───────────────────────────────────────────────────────────────

let toastTimer;
function toast(message) {
  $('toast').textContent = message;
  $('toast').classList.add('shown');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => $('toast').classList.remove('shown'), 4000);
}

function report(error) {
  toast(error.message);
}

// ── Start ──────────────────────────────────────────────────────────────────

if (auth.token) route().catch(report);
else showSignIn();
